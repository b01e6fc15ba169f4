import type { Me, Role } from "../api"
import { h, svg } from "../dom"
import type { DocumentEditor } from "../editor/editor"
import type { HistoryPanel } from "../history/panel"
import { icons } from "../icons"
import type { ReconnectingWebSocketAdapter } from "../net/adapter"
import type { Page } from "../page"
import { cacheRole } from "./access"

/** "Read only" in the top bar, with the reason in a tooltip (hover or keyboard focus). */
export class ReadOnlyBadge {
  readonly el: HTMLElement
  #tip = h("span", { class: "ro-tip", role: "tooltip", id: "ro-tip" }, "")

  constructor() {
    this.el = h(
      "span",
      { class: "ro-badge", tabindex: 0, "aria-describedby": "ro-tip", "data-testid": "read-only", hidden: true },
      svg(icons.lock),
      h("span", { class: "ro-label" }, "Read only"),
      this.#tip,
    )
  }

  show(why: string | null) {
    this.el.hidden = why === null
    this.#tip.textContent = why ?? ""
    this.el.setAttribute("aria-label", why !== null ? `Read only: ${why}` : "")
  }
}

export interface ReadOnlyOptions {
  id: string
  editor: DocumentEditor
  history: HistoryPanel
  adapter: ReconnectingWebSocketAdapter
  badge: ReadOnlyBadge
  /** The page (class is-read-only), its toolbar row (hidden while read-only) and "Discard my changes". */
  page: HTMLElement
  toolbarRow: HTMLElement
  discardBtn: HTMLElement
}

/** Read-only mode: from the role (/api/me), or because the server refused our changes. */
export class ReadOnlyMode implements Page {
  #o: ReadOnlyOptions
  readonly #onServerError = (message: string) => this.#serverError(message)

  constructor(opts: ReadOnlyOptions) {
    this.#o = opts
    opts.adapter.onServerError = this.#onServerError
  }

  set(why: string | null) {
    const { editor, history, badge, page, toolbarRow } = this.#o
    const ro = why !== null
    editor.setReadOnly(ro)
    badge.show(why)
    page.classList.toggle("is-read-only", ro)
    if (!history.previewing) toolbarRow.hidden = ro
    history.setWritable(!ro)
  }

  /** `me` is the server's answer when there is one (it names who is read-only). */
  applyRole(me: Me | null, role: Role | null) {
    if (role === "read") this.set(me ? roleReason(me) : "You can read this document but not change it: your access is read-only.")
    else if (role === "write" || role === "admin") this.set(null)
  }

  unmount() {
    if (this.#o.adapter.onServerError === this.#onServerError) this.#o.adapter.onServerError = undefined
  }

  #serverError(message: string) {
    const { id } = this.#o
    if (!/read-only|read only|not allowed|forbidden|permission/i.test(message)) return
    if (/document/i.test(message) && !message.includes(id)) return // about another document
    this.set(`The server refused your changes (${message.replace(/\.$/, "")}). Changes made here are not saved.`)
    cacheRole(id, "read")
    this.#o.discardBtn.hidden = false
  }
}

function roleReason(m: Me): string {
  return `You can read this document and see others edit it live, but not change it: ${m.name || m.user ? `${m.name || m.user}’s` : "your"} access is read-only. Ask the document’s owner for write access.`
}
