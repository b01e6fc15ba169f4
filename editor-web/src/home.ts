import { header, nameChip } from "./chrome"
import { parseDocInput } from "./docid"
import { h, svg, toast } from "./dom"
import type { WeftDoc } from "./editor/editor"
import { icons } from "./icons"
import type { AppContext, Page } from "./page"
import { forgetDoc, recentDocs, relativeTime, rememberDoc } from "./recent"

/** The home page: new document, open by link, recently opened. */
export function mountHome(ctx: AppContext): Page {
  document.title = "weft"

  const newBtn = h("button", { type: "button", class: "btn btn-primary btn-lg", "data-testid": "new-doc" }, svg(icons.plus), "New document")
  newBtn.addEventListener("click", async () => {
    newBtn.disabled = true
    try {
      const { repo } = await ctx.client()
      const handle = repo.create<WeftDoc>({ title: "", text: "" })
      rememberDoc(handle.documentId, "")
      ctx.navigate(`/d/${handle.documentId}`)
    } catch (err) {
      newBtn.disabled = false
      toast(`Could not create a document: ${(err as Error).message}`)
    }
  })

  const openInput = h("input", {
    class: "input",
    type: "text",
    placeholder: "Paste a document link or ID",
    "aria-label": "Document link or ID",
    spellcheck: "false",
    autocomplete: "off",
    "data-testid": "open-input",
  })
  const openError = h("p", { class: "field-error", role: "alert", hidden: true })
  const openForm = h(
    "form",
    { class: "open-form" },
    openInput,
    h("button", { type: "submit", class: "btn btn-secondary" }, "Open", svg(icons.arrowRight)),
  )
  openForm.addEventListener("submit", e => {
    e.preventDefault()
    const id = parseDocInput(openInput.value)
    if (!id) {
      openError.textContent = openInput.value.trim()
        ? "That doesn't look like a weft link. Links look like https://…/d/4NMNnkMhL8jXrdJ9jamS58PAVdXu"
        : "Paste a link to a document first."
      openError.hidden = false
      openInput.focus()
      return
    }
    ctx.navigate(`/d/${id}`)
  })
  openInput.addEventListener("input", () => (openError.hidden = true))

  const list = h("ul", { class: "recent-list", "data-testid": "recent" })
  const renderRecent = () => {
    const docs = recentDocs()
    list.replaceChildren()
    if (docs.length === 0) {
      list.append(
        h(
          "li",
          { class: "recent-empty" },
          svg(icons.doc),
          h("div", {}, h("strong", {}, "No documents yet"), h("p", {}, "Documents you create or open on this device show up here.")),
        ),
      )
      return
    }
    for (const d of docs) {
      const remove = h("button", { type: "button", class: "icon-btn recent-remove", title: "Remove from this list", "aria-label": `Remove ${d.title || "Untitled"} from recent documents` }, svg(icons.x))
      remove.addEventListener("click", e => {
        e.preventDefault()
        forgetDoc(d.id)
        renderRecent()
      })
      list.append(
        h(
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
        ),
      )
    }
  }
  renderRecent()

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
        h("div", { class: "hero-actions" }, newBtn),
      ),
      h("section", { class: "card open-card" }, h("h2", { class: "section-title" }, "Open a document"), openForm, openError),
      h("section", { class: "recent" }, h("h2", { class: "section-title" }, "Recent"), list),
    ),
  )
  ctx.root.append(page)
  const onStorage = (e: StorageEvent) => {
    if (e.key === "weft:recent") renderRecent()
  }
  window.addEventListener("storage", onStorage)
  return {
    unmount() {
      window.removeEventListener("storage", onStorage)
    },
  }
}
