import { h, svg } from "../dom"
import { icons } from "../icons"
import type { Status } from "../status"

/** The status pill: connection and whether the server has everything. */
export class StatusPill {
  readonly el: HTMLElement
  #icon = h("span", { class: "status-icon" })
  #conn = h("span", { class: "status-conn" })
  #sync = h("span", { class: "status-sync" })
  // Shown only when storing in this browser is slow or fails (styles: .status-local).
  #local = h("span", { class: "status-local", "data-testid": "status-local" })
  #retry = h("button", { type: "button", class: "status-retry", hidden: true }, "Retry now")
  #onRetry = () => {}
  #lastIcon = ""
  #slowLocal: ReturnType<typeof setTimeout> | undefined
  #lastLocal = "saved"

  constructor() {
    this.el = h(
      "div",
      { class: "status", "data-testid": "status", "data-sync": "unsynced", "data-connection": "connecting", "data-local": "saved" },
      this.#icon,
      this.#conn,
      this.#sync,
      this.#local,
      this.#retry,
    )
    this.#retry.addEventListener("click", () => this.#onRetry())
  }

  update(s: Status, retryNow: () => void) {
    this.#onRetry = retryNow
    const el = this.el
    el.dataset.sync = s.sync
    el.dataset.connection = s.connection
    el.dataset.local = s.local
    el.title = s.detail
    // A write normally takes milliseconds: "Saving on this device…" only when one takes long.
    if (s.local !== this.#lastLocal) {
      this.#lastLocal = s.local
      clearTimeout(this.#slowLocal)
      if (s.local === "saving") this.#slowLocal = setTimeout(() => (this.#local.textContent = s.localText), 600)
      else this.#local.textContent = s.localText
    }
    const showConn = s.connection !== "connected"
    this.#conn.textContent = showConn ? s.connectionText : ""
    this.#conn.hidden = !showConn
    this.#sync.textContent = s.syncText
    this.#retry.hidden = s.connection !== "reconnecting"
    const which = s.connection === "connected" ? (s.sync === "saved" ? "cloudCheck" : "cloud") : "cloudOff"
    if (which !== this.#lastIcon) {
      this.#lastIcon = which
      this.#icon.replaceChildren(svg(icons[which as keyof typeof icons]))
    }
  }
}
