import { avatar, header, nameChip } from "../chrome"
import { h, svg, toast } from "../dom"
import { icons } from "../icons"
import type { Peer } from "../presence/state"
import { ReadOnlyBadge } from "./readonly"
import { StatusPill } from "./statuspill"

/**
 * The document page's frame: the top bar (title crumb, status, read-only badge, people, history
 * button slot, share button, name chip), the toolbar row and the main column. The parts that
 * fill it are made once the document is open; until then most of the bar is hidden.
 */
export class DocFrame {
  readonly page: HTMLElement
  readonly main = h("main", { class: "doc-main" })
  readonly toolbarRow = h("div", { class: "toolbar-row", hidden: true })
  readonly status = new StatusPill()
  readonly readOnlyBadge = new ReadOnlyBadge()
  // When the server refused changes made here: drop this browser's copy and load the server's.
  readonly discardBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm discard-btn", hidden: true, "data-testid": "discard-local" }, "Discard my changes")
  readonly historySlot = h("span", { class: "history-slot" })
  /** Called when the name chip renamed this person. */
  onRename = (_name: string) => {}
  #crumb = h("span", { class: "crumb", "data-testid": "crumb" }, "")
  #crumbSep = h("span", { class: "crumb-sep", hidden: true }, "/")
  #people = h("ul", { class: "people", "aria-label": "People here", "data-testid": "people" })
  #share = h("button", { type: "button", class: "btn btn-secondary share-btn", "data-testid": "copy-link", disabled: true }, svg(icons.link), h("span", {}, "Copy link"))
  #shownTitle: string | null = null

  constructor(root: HTMLElement, shareUrl: string) {
    // The status pill and the share button appear once the document is open.
    this.status.el.hidden = true
    this.#share.hidden = true
    const left = [this.#crumbSep, this.#crumb, this.status.el, this.readOnlyBadge.el, this.discardBtn]
    const top = header(left, [this.#people, this.historySlot, this.#share, nameChip(n => this.onRename(n))])
    this.page = h("div", { class: "app docview" }, top, this.toolbarRow, this.main)
    root.append(this.page)
    this.#share.addEventListener("click", () => copyLink(shareUrl))
  }

  /** Shows the title in the crumb and the tab; false when it was shown already. */
  setTitle(title: string): boolean {
    if (title === this.#shownTitle) return false
    this.#shownTitle = title
    const t = title.trim() || "Untitled"
    this.#crumb.textContent = t
    this.#crumb.classList.toggle("untitled", !title.trim())
    document.title = `${t} · weft`
    return true
  }

  /** The document is open: show what was hidden until then. */
  showOpened() {
    this.#share.disabled = false
    this.#share.hidden = false
    this.status.el.hidden = false
    this.#crumbSep.hidden = false
  }

  /** Everyone else who has the document open; "you" is the chip next to it. */
  renderPeers(peers: Peer[]) {
    const people = this.#people
    const shown = peers.slice(0, 5)
    people.replaceChildren(
      ...shown.map(p =>
        h("li", { class: "person", "data-name": p.name, "data-testid": "person" }, avatar(p.name, p.color), h("span", { class: "person-name", role: "tooltip" }, p.name)),
      ),
    )
    if (peers.length > shown.length) {
      const rest = peers.slice(shown.length).map(p => p.name).join(", ")
      people.append(h("li", { class: "person person-more", title: rest }, h("span", { class: "avatar" }, `+${peers.length - shown.length}`)))
    }
    people.setAttribute("aria-label", peers.length ? `Also here: ${peers.map(p => p.name).join(", ")}` : "Nobody else is here")
  }
}

async function copyLink(url: string) {
  try {
    await navigator.clipboard.writeText(url)
    toast("Link copied. Anyone with the link can open and edit this document.")
    return
  } catch {
    // not a secure context, or permission denied: fall back to a selected text field
  }
  const input = h("input", { class: "visually-hidden", value: url, readonly: true })
  document.body.append(input)
  input.select()
  const ok = document.execCommand("copy")
  input.remove()
  toast(ok ? "Link copied. Anyone with the link can open and edit this document." : `Copy this link: ${url}`)
}
