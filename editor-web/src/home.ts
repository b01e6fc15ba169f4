import { header, nameChip } from "./chrome"
import { parseDocInput } from "./docid"
import { h, svg, toast } from "./dom"
import type { WeftDoc } from "./editor/editor"
import { icons } from "./icons"
import type { AppContext, Page } from "./page"
import { forgetDoc, recentDocs, relativeTime, rememberDoc, type RecentDoc } from "./recent"

/** The home page: new document, open by link, recently opened. */
export function mountHome(ctx: AppContext): Page {
  document.title = "weft"
  const open = openForm(ctx)
  const recent = new RecentList()
  const page = h(
    "div",
    { class: "app home" },
    header([], [nameChip(() => {})]),
    h(
      "main",
      { class: "home-main" },
      h(
        "section",
        { class: "hero" },
        h("h1", {}, "Write together."),
        h("p", { class: "lede" }, "Documents that sync live between everyone who has the link, keep working offline, and catch up when you are back."),
        h("div", { class: "hero-actions" }, newDocButton(ctx)),
      ),
      h("section", { class: "card open-card" }, h("h2", { class: "section-title" }, "Open a document"), ...open),
      h("section", { class: "recent" }, h("h2", { class: "section-title" }, "Recent"), recent.el),
    ),
  )
  ctx.root.append(page)
  return recent
}

function newDocButton(ctx: AppContext): HTMLButtonElement {
  const btn = h("button", { type: "button", class: "btn btn-primary btn-lg", "data-testid": "new-doc" }, svg(icons.plus), "New document")
  btn.addEventListener("click", async () => {
    btn.disabled = true
    try {
      const { repo } = await ctx.client()
      const handle = repo.create<WeftDoc>({ title: "", text: "" })
      rememberDoc(handle.documentId, "")
      ctx.navigate(`/d/${handle.documentId}`)
    } catch (err) {
      btn.disabled = false
      toast(`Could not create a document: ${(err as Error).message}`)
    }
  })
  return btn
}

/** "Paste a document link or ID": the form and its error line. */
function openForm(ctx: AppContext): [HTMLFormElement, HTMLElement] {
  const input = h("input", {
    class: "input",
    type: "text",
    placeholder: "Paste a document link or ID",
    "aria-label": "Document link or ID",
    spellcheck: "false",
    autocomplete: "off",
    "data-testid": "open-input",
  })
  const error = h("p", { class: "field-error", role: "alert", hidden: true })
  const form = h("form", { class: "open-form" }, input, h("button", { type: "submit", class: "btn btn-secondary" }, "Open", svg(icons.arrowRight)))
  form.addEventListener("submit", e => {
    e.preventDefault()
    const id = parseDocInput(input.value)
    if (!id) {
      error.textContent = input.value.trim()
        ? "That doesn't look like a weft link. Links look like https://…/d/4NMNnkMhL8jXrdJ9jamS58PAVdXu"
        : "Paste a link to a document first."
      error.hidden = false
      input.focus()
      return
    }
    ctx.navigate(`/d/${id}`)
  })
  input.addEventListener("input", () => (error.hidden = true))
  return [form, error]
}

/** The recently opened documents, kept current when another tab changes the list. */
class RecentList implements Page {
  readonly el = h("ul", { class: "recent-list", "data-testid": "recent" })
  readonly #onStorage = (e: StorageEvent) => {
    if (e.key === "weft:recent") this.render()
  }

  constructor() {
    this.render()
    window.addEventListener("storage", this.#onStorage)
  }

  unmount() {
    window.removeEventListener("storage", this.#onStorage)
  }

  render() {
    const docs = recentDocs()
    this.el.replaceChildren()
    if (docs.length === 0) {
      this.el.append(
        h(
          "li",
          { class: "recent-empty" },
          svg(icons.doc),
          h("div", {}, h("strong", {}, "No documents yet"), h("p", {}, "Documents you create or open on this device show up here.")),
        ),
      )
      return
    }
    for (const d of docs) this.el.append(this.#item(d))
  }

  #item(d: RecentDoc): HTMLElement {
    const remove = h("button", { type: "button", class: "icon-btn recent-remove", title: "Remove from this list", "aria-label": `Remove ${d.title || "Untitled"} from recent documents` }, svg(icons.x))
    remove.addEventListener("click", e => {
      e.preventDefault()
      forgetDoc(d.id)
      this.render()
    })
    return h(
      "li",
      {},
      h(
        "a",
        { class: "recent-item", href: `/d/${d.id}`, "data-nav": true },
        h("span", { class: "recent-icon" }, svg(icons.doc)),
        h("span", { class: "recent-title" + (d.title ? "" : " untitled") }, d.title || "Untitled"),
        h("span", { class: "recent-meta" }, `Opened ${relativeTime(d.openedAt)}`),
        remove,
      ),
    )
  }
}
