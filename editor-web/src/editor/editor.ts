import { next as A } from "@automerge/automerge/slim"
import type { DocHandle, DocHandleChangePayload } from "@automerge/automerge-repo/slim"
import { pmDocFromSpans, syncPlugin } from "@automerge/prosemirror"
import { dropCursor } from "prosemirror-dropcursor"
import { gapCursor } from "prosemirror-gapcursor"
import { history } from "prosemirror-history"
import { EditorState, Plugin, TextSelection, type Transaction } from "prosemirror-state"
import { Decoration, DecorationSet, EditorView } from "prosemirror-view"
import { h } from "../dom"
import type { Identity } from "../identity"
import { caretsPlugin } from "../presence/carets"
import { PresenceController } from "../presence/controller"
import type { Peer } from "../presence/state"
import { editorInputRules, editorKeymaps } from "./commands"
import { LinkUI } from "./link"
import { TEXT_PATH, cursorsToPm, selectionToCursors, spansOf } from "./positions"
import { readPendingSelection } from "./pending-selection"
import { schemaAdapter } from "./schema"
import { Toolbar } from "./toolbar"

/** The shape of a weft document. `text` is Automerge rich text (block markers and marks). */
export interface WeftDoc {
  title: string
  text: string
}

export interface DocumentChange {
  title: string
  /** The text without formatting, blocks separated by newlines. */
  text: string
  /** True when the change was made here, false when it came from someone else. */
  local: boolean
}

export interface EditorOptions {
  handle: DocHandle<WeftDoc>
  identity: Identity
  /** Called when the people here change. */
  onPeers?: (peers: Peer[]) => void
  /** Called after every change to the document, local or remote. */
  onChange?: (change: DocumentChange) => void
  placeholder?: string
}

/** Makes sure the fields the editor binds to exist (documents made by other programs may lack them). */
export function ensureShape(handle: DocHandle<WeftDoc>) {
  const doc = handle.doc() as Partial<WeftDoc> | undefined
  if (doc && typeof doc.title === "string" && typeof doc.text === "string") return
  handle.change(d => {
    const o = d as Partial<WeftDoc>
    if (typeof o.title !== "string") o.title = ""
    if (typeof o.text !== "string") o.text = ""
  })
}

/**
 * A document's title field, formatting toolbar and rich-text body, bound to an Automerge handle,
 * with other people's carets. `toolbar.el` and `el` are placed by the caller.
 */
export class DocumentEditor {
  readonly el: HTMLElement
  readonly toolbar: Toolbar
  readonly view: EditorView
  readonly presence: PresenceController
  readonly title: HTMLTextAreaElement
  #handle: DocHandle<WeftDoc>
  #link: LinkUI
  #onChange?: (c: DocumentChange) => void

  constructor(opts: EditorOptions) {
    const handle = opts.handle
    this.#handle = handle
    this.#onChange = opts.onChange
    ensureShape(handle)

    this.title = this.#titleField(handle.doc()?.title ?? "")

    const body = h("div", { class: "doc-body" })
    this.el = h("div", { class: "doc-page" }, this.title, body)
    this.#link = new LinkUI(this.el)
    this.toolbar = new Toolbar(this.#link.command)

    // Registered before the sync plugin's own listener, so it sees the selection before the remote change.
    handle.on("change", this.#rememberCaret)

    const state = EditorState.create({
      schema: schemaAdapter.schema,
      doc: pmDocFromSpans(schemaAdapter, A.spans(handle.doc()!, TEXT_PATH)),
      plugins: this.#plugins(handle, opts.placeholder ?? "Start writing…"),
    })
    this.view = new EditorView(body, {
      state,
      editable: () => !this.#readOnly,
      attributes: { class: "prose", "aria-label": "Document text", role: "textbox", "aria-multiline": "true", spellcheck: "true" },
      dispatchTransaction: tr => this.#dispatch(tr),
    })
    this.toolbar.attach(this.view)
    this.presence = new PresenceController({
      handle: handle as DocHandle<unknown>,
      view: this.view,
      identity: opts.identity,
      onPeers: opts.onPeers,
    })
    this.view.dom.addEventListener("focus", () => this.presence.selectionChanged())
    handle.on("change", this.#onDocChange)
    requestAnimationFrame(() => this.#fitTitle())
  }

  #titleField(value: string): HTMLTextAreaElement {
    const title = h("textarea", {
      class: "doc-title",
      rows: 1,
      placeholder: "Untitled",
      "aria-label": "Document title",
      spellcheck: "true",
      "data-testid": "title",
    })
    title.value = value
    title.addEventListener("input", this.#onTitleInput)
    title.addEventListener("keydown", e => {
      if (e.key === "Enter" || (e.key === "ArrowDown" && title.selectionStart === title.value.length)) {
        e.preventDefault()
        this.view.focus()
      }
    })
    return title
  }

  #plugins(handle: DocHandle<WeftDoc>, placeholder: string): Plugin[] {
    return [
      // Before any key is handled, take in a caret move the browser has not reported yet (a click
      // just before the key), so the key acts where the caret is on screen.
      new Plugin({ props: { handleKeyDown: view => (readPendingSelection(view), false) } }),
      editorInputRules(),
      ...editorKeymaps(this.#link.command),
      history(),
      dropCursor({ color: "#0090ff", width: 2 }),
      gapCursor(),
      placeholderPlugin(placeholder),
      caretsPlugin(),
      this.#link.plugin(),
      syncPlugin({ adapter: schemaAdapter, handle, path: TEXT_PATH }),
    ]
  }

  #dispatch(tr: Transaction) {
    const view = this.view
    const local = tr.getMeta("addToHistory") !== false
    // Read only: nothing typed, pasted or dropped may reach the document (remote changes still apply).
    if (this.#readOnly && local && tr.docChanged) return
    if (!local && tr.docChanged) {
      this.#verifyRemote(tr)
      this.#restoreCaret(tr)
    }
    // A local edit reaches Automerge inside apply() (the sync plugin's appendTransaction).
    this.#local = local
    try {
      view.updateState(view.state.apply(tr))
    } finally {
      this.#local = false
    }
    this.toolbar.update(view.state)
    // Unset while the view is being made: presence comes after it.
    const presence = this.presence as PresenceController | undefined
    if (presence && (tr.selectionSet || (tr.docChanged && local))) presence.selectionChanged()
  }

  /** Whether this person may only read: nothing can be typed, the toolbar does nothing. */
  get readOnly(): boolean {
    return this.#readOnly
  }

  setReadOnly(readOnly: boolean) {
    if (readOnly === this.#readOnly) return
    this.#readOnly = readOnly
    this.title.readOnly = readOnly
    this.el.classList.toggle("read-only", readOnly)
    if (readOnly) this.#link.close()
    this.view.setProps({ editable: () => !this.#readOnly })
    this.view.dom.setAttribute("aria-readonly", String(readOnly))
    this.toolbar.setDisabled(readOnly)
  }
  #readOnly = false

  focus() {
    if (this.#readOnly) return
    if (!this.title.value) this.title.focus()
    else this.view.focus()
  }

  /** The text without formatting: blocks separated by newlines. */
  plainText(): string {
    const d = this.view.state.doc
    return d.textBetween(0, d.content.size, "\n", "\n")
  }

  destroy() {
    this.#handle.off("change", this.#onDocChange)
    this.#handle.off("change", this.#rememberCaret)
    this.presence.destroy()
    this.view.destroy()
    this.#link.destroy()
  }

  /**
   * My caret across someone else's change, as Automerge cursors: ProseMirror would map it through
   * the steps the sync plugin makes, which can replace a whole block (a block marker added by the
   * other client) and throw the caret to the end of their text. A cursor stays on its character.
   */
  #caretBeforeRemote: { anchor: string; head: string } | null = null
  /** True while a change made here is being applied (automerge-repo does not say where a change came from). */
  #local = false

  #rememberCaret = (p: DocHandleChangePayload<WeftDoc>) => {
    this.#caretBeforeRemote = null
    this.#verifyNext = false
    if (this.#local || !this.view || !p.patches.some(x => x.path[0] === TEXT_PATH[0])) return
    this.#verifyNext = needsVerify(p.patches)
    readPendingSelection(this.view)
    const sel = this.view.state.selection
    if (!(sel instanceof TextSelection)) return
    try {
      const before = p.patchInfo.before as A.Doc<unknown>
      this.#caretBeforeRemote = selectionToCursors(before, spansOf(before), sel.anchor, sel.head)
    } catch {
      // positions and document disagree: fall back to ProseMirror's mapping
    }
  }

  /** Set for a remote change larger than typing (a restore, a paste, blocks), whose result is checked. */
  #verifyNext = false

  /**
   * After a large remote change, makes sure the text shown is the document's: @automerge/prosemirror
   * 0.2.0 can map a big multi-block change (a restore) to the wrong ProseMirror steps. Any
   * difference is replaced inside the same transaction (the sync plugin is applying it, so it is not
   * written back to Automerge).
   */
  #verifyRemote(tr: Transaction) {
    if (!this.#verifyNext) return
    this.#verifyNext = false
    let want: ReturnType<typeof pmDocFromSpans>
    try {
      want = pmDocFromSpans(schemaAdapter, spansOf(this.#handle.doc() as A.Doc<unknown>))
    } catch {
      return
    }
    const cur = tr.doc
    const start = cur.content.findDiffStart(want.content)
    if (start === null || start === undefined) return
    const end = cur.content.findDiffEnd(want.content)
    if (!end) return
    let { a: endA, b: endB } = end
    const overlap = start - Math.min(endA, endB)
    if (overlap > 0) {
      endA += overlap
      endB += overlap
    }
    tr.replace(start, endA, want.slice(start, endB))
  }

  #restoreCaret(tr: Transaction) {
    const saved = this.#caretBeforeRemote
    this.#caretBeforeRemote = null
    if (!saved || tr.selectionSet) return
    const doc = this.#handle.doc() as A.Doc<unknown>
    const pos = cursorsToPm(doc, spansOf(doc), saved, tr.doc)
    if (!pos) return
    const $a = tr.doc.resolve(pos.anchor)
    const $h = tr.doc.resolve(pos.head)
    if ($a.parent.inlineContent && $h.parent.inlineContent) tr.setSelection(TextSelection.between($a, $h))
  }

  #onTitleInput = () => {
    if (this.#readOnly) return
    const value = this.title.value.replace(/\n/g, " ")
    this.#local = true
    try {
      this.#handle.change(d => {
        if (typeof d.title === "string") A.updateText(d, ["title"], value)
        else d.title = value
      })
    } finally {
      this.#local = false
    }
    this.#fitTitle()
  }

  #onDocChange = (p: DocHandleChangePayload<WeftDoc>) => {
    const title = typeof p.doc.title === "string" ? p.doc.title : ""
    if (title !== this.title.value) this.#setTitleKeepingCaret(title)
    // A local edit reaches Automerge while ProseMirror is still applying it: report after that,
    // once per burst, so the text is the new one.
    this.#pendingLocal ||= this.#local
    if (this.#changeQueued) return
    this.#changeQueued = true
    queueMicrotask(() => {
      this.#changeQueued = false
      const local = this.#pendingLocal
      this.#pendingLocal = false
      this.#onChange?.({ title: this.title.value, text: this.plainText(), local })
    })
  }
  #changeQueued = false
  #pendingLocal = false

  /** Replaces the title text after a remote edit without moving the local caret off its character. */
  #setTitleKeepingCaret(next: string) {
    const el = this.title
    const prev = el.value
    const focused = document.activeElement === el
    const start = el.selectionStart
    const end = el.selectionEnd
    el.value = next
    if (focused) {
      let p = 0
      while (p < prev.length && p < next.length && prev[p] === next[p]) p++
      let s = 0
      while (s < prev.length - p && s < next.length - p && prev[prev.length - 1 - s] === next[next.length - 1 - s]) s++
      const delta = next.length - prev.length
      const map = (i: number) => (i <= p ? i : i >= prev.length - s ? i + delta : p)
      el.setSelectionRange(map(start), map(end))
    }
    this.#fitTitle()
  }

  #fitTitle() {
    this.title.style.height = "auto"
    this.title.style.height = `${this.title.scrollHeight}px`
  }
}

/** Whether a remote change is more than typing (a few characters inserted or one deleted): those are checked. */
function needsVerify(patches: A.Patch[]): boolean {
  const text = patches.filter(p => p.path[0] === TEXT_PATH[0])
  if (text.length > 2) return true
  return !text.every(
    p => (p.action === "splice" && p.value.length <= 4) || (p.action === "del" && (p.length ?? 1) === 1),
  )
}

/** Shows a hint in an empty document. */
function placeholderPlugin(text: string): Plugin {
  return new Plugin({
    props: {
      decorations(state) {
        const doc = state.doc
        const first = doc.firstChild
        if (doc.childCount !== 1 || !first || !first.isTextblock || first.content.size > 0) return null
        return DecorationSet.create(doc, [Decoration.node(0, first.nodeSize, { class: "is-empty", "data-placeholder": text })])
      },
    },
  })
}
