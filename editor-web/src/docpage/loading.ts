import { h } from "../dom"
import type { Page } from "../page"

/** The loading screen: what is happening, and how far along. */
export class LoadingScreen implements Page {
  readonly el: HTMLElement
  #stage = h("p", { class: "loading-stage", "data-testid": "loading-stage" }, "Starting…")
  #bar = h("div", { class: "progress-fill" })
  #slow: ReturnType<typeof setTimeout>

  constructor() {
    const hint = h("p", { class: "loading-hint", hidden: true })
    this.el = h(
      "div",
      { class: "loading-card", role: "status", "aria-live": "polite", "data-testid": "loading" },
      h("div", { class: "progress", "aria-hidden": "true" }, this.#bar),
      this.#stage,
      hint,
    )
    this.#slow = setTimeout(() => {
      hint.textContent = "This is taking longer than usual. Large documents can take a few seconds."
      hint.hidden = false
    }, 8000)
  }

  /** `pct` null: an indeterminate bar. */
  setStage(text: string, pct: number | null) {
    this.#stage.textContent = text
    this.#bar.classList.toggle("indeterminate", pct === null)
    if (pct !== null) this.#bar.style.width = `${pct}%`
  }

  remove() {
    this.el.remove()
  }

  unmount() {
    clearTimeout(this.#slow)
  }
}
