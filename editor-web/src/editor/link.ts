import type { Mark, MarkType } from "prosemirror-model"
import { Plugin, TextSelection, type Command, type EditorState } from "prosemirror-state"
import type { EditorView } from "prosemirror-view"
import { h, svg } from "../dom"
import { icons } from "../icons"
import { normalizeHref, safeHref, schema } from "./schema"

/** The extent of the link mark around `pos`, if there is one. */
export function linkRange(state: EditorState, pos: number): { from: number; to: number; mark: Mark } | null {
  const type: MarkType = schema.marks.link
  const $pos = state.doc.resolve(pos)
  const parent = $pos.parent
  // The mark at pos, or just before it (caret at the end of a link).
  const mark = ($pos.nodeAfter && type.isInSet($pos.nodeAfter.marks)) || ($pos.nodeBefore && type.isInSet($pos.nodeBefore.marks))
  if (!mark) return null
  let offset = $pos.start()
  let runFrom = -1
  for (let i = 0; i < parent.childCount; i++) {
    const child = parent.child(i)
    const childFrom = offset
    offset += child.nodeSize
    if (!mark.isInSet(child.marks)) {
      runFrom = -1
      continue
    }
    if (runFrom < 0) runFrom = childFrom
    if (runFrom <= pos && pos <= offset) {
      let end = offset
      for (let j = i + 1; j < parent.childCount && mark.isInSet(parent.child(j).marks); j++) end += parent.child(j).nodeSize
      return { from: runFrom, to: end, mark }
    }
  }
  return null
}

/**
 * The link editor: a small popover under the selection with a URL field (Mod-K or the toolbar),
 * and a bubble showing the URL when the caret is in a link.
 */
export class LinkUI {
  #view: EditorView | null = null
  #pop: HTMLElement
  #input: HTMLInputElement
  #remove: HTMLButtonElement
  #bubble: HTMLElement
  #bubbleLink: HTMLAnchorElement
  #range: { from: number; to: number } | null = null

  constructor(private readonly host: HTMLElement) {
    this.#input = h("input", {
      class: "link-input",
      type: "text",
      placeholder: "Paste or type a link",
      "aria-label": "Link address",
      spellcheck: "false",
      autocomplete: "off",
    })
    this.#remove = h("button", { type: "button", class: "btn btn-ghost btn-sm" }, "Remove")
    const apply = h("button", { type: "submit", class: "btn btn-primary btn-sm" }, "Apply")
    const form = h("form", { class: "link-form" }, this.#input, apply, this.#remove)
    form.addEventListener("submit", e => {
      e.preventDefault()
      this.#apply()
    })
    this.#remove.addEventListener("click", () => this.#unlink())
    this.#input.addEventListener("keydown", e => {
      if (e.key === "Escape") {
        e.preventDefault()
        this.close()
        this.#view?.focus()
      }
    })
    this.#pop = h("div", { class: "popover link-popover", hidden: true, role: "dialog", "aria-label": "Edit link" }, form)

    this.#bubbleLink = h("a", { class: "bubble-link", target: "_blank", rel: "noopener noreferrer nofollow" })
    const edit = h("button", { type: "button", class: "bubble-btn" }, "Edit")
    const unlink = h("button", { type: "button", class: "bubble-btn" }, "Remove")
    edit.addEventListener("mousedown", e => {
      e.preventDefault()
      const v = this.#view
      if (v) this.open(v)
    })
    unlink.addEventListener("mousedown", e => {
      e.preventDefault()
      this.#unlinkAtCaret()
    })
    this.#bubble = h("div", { class: "popover link-bubble", hidden: true }, svg(icons.external), this.#bubbleLink, edit, unlink)

    host.append(this.#pop, this.#bubble)
    document.addEventListener("mousedown", this.#onDocMouseDown)
  }

  /** The Mod-K / toolbar command. */
  command: Command = (state, dispatch, view) => {
    if (state.selection.$from.parent.type.spec.code) return false
    if (dispatch && view) this.open(view)
    return true
  }

  /** A plugin that keeps the bubble in sync with the caret and opens links on Ctrl/Cmd-click. */
  plugin(): Plugin {
    return new Plugin({
      view: view => {
        this.#view = view
        return { update: () => this.#updateBubble(), destroy: () => this.destroy() }
      },
      props: {
        handleClick: (_view, _pos, event) => {
          const a = (event.target as HTMLElement).closest?.("a[href]") as HTMLAnchorElement | null
          if (a && (event.metaKey || event.ctrlKey)) {
            const href = safeHref(a.getAttribute("href"))
            if (href) window.open(href, "_blank", "noopener,noreferrer")
            return true
          }
          return false
        },
      },
    })
  }

  open(view: EditorView) {
    this.#view = view
    const { state } = view
    const { from, to, empty } = state.selection
    const existing = linkRange(state, from)
    this.#range = existing && empty ? { from: existing.from, to: existing.to } : { from, to }
    this.#input.value = existing ? existing.mark.attrs.href : ""
    this.#remove.hidden = !existing
    this.#bubble.hidden = true
    this.#pop.hidden = false
    this.#place(this.#pop, this.#range.from)
    this.#input.focus()
    this.#input.select()
  }

  close() {
    this.#pop.hidden = true
    this.#range = null
  }

  destroy() {
    document.removeEventListener("mousedown", this.#onDocMouseDown)
    this.#pop.remove()
    this.#bubble.remove()
  }

  #apply() {
    const view = this.#view
    const range = this.#range
    if (!view || !range) return
    const href = normalizeHref(this.#input.value)
    const type = schema.marks.link
    let tr = view.state.tr
    if (!href) {
      tr.removeMark(range.from, range.to, type)
    } else if (range.from === range.to) {
      // Nothing selected: insert the address itself as the link text.
      tr.insertText(href, range.from)
      tr.addMark(range.from, range.from + href.length, type.create({ href }))
      tr.setSelection(TextSelection.create(tr.doc, range.from + href.length))
    } else {
      tr.removeMark(range.from, range.to, type).addMark(range.from, range.to, type.create({ href }))
    }
    view.dispatch(tr.scrollIntoView())
    this.close()
    view.focus()
  }

  #unlink() {
    const view = this.#view
    const range = this.#range
    if (view && range) view.dispatch(view.state.tr.removeMark(range.from, range.to, schema.marks.link))
    this.close()
    view?.focus()
  }

  #unlinkAtCaret() {
    const view = this.#view
    if (!view) return
    const r = linkRange(view.state, view.state.selection.from)
    if (r) view.dispatch(view.state.tr.removeMark(r.from, r.to, schema.marks.link))
    view.focus()
  }

  #updateBubble() {
    const view = this.#view
    if (!view || !this.#pop.hidden) return
    const { state } = view
    const r = state.selection.empty && view.hasFocus() ? linkRange(state, state.selection.from) : null
    if (!r) {
      this.#bubble.hidden = true
      return
    }
    const href = safeHref(r.mark.attrs.href)
    this.#bubbleLink.textContent = href || "(unsafe link)"
    if (href) this.#bubbleLink.href = href
    else this.#bubbleLink.removeAttribute("href")
    this.#bubble.hidden = false
    this.#place(this.#bubble, r.from)
  }

  #place(el: HTMLElement, pos: number) {
    const view = this.#view
    if (!view) return
    const coords = view.coordsAtPos(pos)
    const box = this.host.getBoundingClientRect()
    const left = Math.max(0, Math.min(coords.left - box.left, box.width - el.offsetWidth - 8))
    el.style.left = `${left}px`
    el.style.top = `${coords.bottom - box.top + 6}px`
  }

  #onDocMouseDown = (e: MouseEvent) => {
    if (!this.#pop.hidden && !this.#pop.contains(e.target as Node)) this.close()
  }
}
