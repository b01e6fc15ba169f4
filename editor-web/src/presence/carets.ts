import { Plugin, PluginKey, type EditorState, type Transaction } from "prosemirror-state"
import { Decoration, DecorationSet, type EditorView } from "prosemirror-view"

/** A remote person's selection, already in ProseMirror positions. */
export interface RemoteCaret {
  id: string
  name: string
  color: string
  anchor: number
  head: number
}

interface CaretsState {
  carets: RemoteCaret[]
  /** Tinted ranges for the remote selections. */
  decorations: DecorationSet
}

export const caretsKey = new PluginKey<CaretsState>("weft-remote-carets")

/** A transaction that replaces the drawn remote carets (it changes no content and is not undoable). */
export function setCarets(state: EditorState, carets: RemoteCaret[]): Transaction {
  return state.tr.setMeta(caretsKey, carets).setMeta("addToHistory", false)
}

/**
 * Draws other people's carets (a coloured bar with their name) and selections (a tinted range).
 *
 * Selections are inline decorations. Carets are not: they live in a layer laid over the editor and
 * are placed with coordsAtPos, because any element inside the editable text (a widget) changes
 * where the browser puts the local caret when someone clicks or presses End next to it.
 * Between updates positions are mapped through every transaction, so they move with the text.
 */
export function caretsPlugin(): Plugin<CaretsState> {
  return new Plugin<CaretsState>({
    key: caretsKey,
    state: {
      init: () => ({ carets: [], decorations: DecorationSet.empty }),
      apply(tr, value, _old, state) {
        const next = tr.getMeta(caretsKey) as RemoteCaret[] | undefined
        if (next) return build(state, next)
        if (!tr.docChanged) return value
        const size = tr.doc.content.size
        return {
          carets: value.carets.map(c => ({
            ...c,
            anchor: clamp(tr.mapping.map(c.anchor, -1), size),
            head: clamp(tr.mapping.map(c.head, -1), size),
          })),
          decorations: value.decorations.map(tr.mapping, tr.doc),
        }
      },
    },
    props: {
      decorations: state => caretsKey.getState(state)?.decorations,
    },
    view: view => new CaretLayer(view),
  })
}

function build(state: EditorState, carets: RemoteCaret[]): CaretsState {
  const size = state.doc.content.size
  const clamped = carets.map(c => ({ ...c, anchor: clamp(c.anchor, size), head: clamp(c.head, size) }))
  const decos: Decoration[] = []
  for (const c of clamped) {
    const from = Math.min(c.anchor, c.head)
    const to = Math.max(c.anchor, c.head)
    if (from < to) decos.push(Decoration.inline(from, to, { class: "remote-selection", style: `background-color: ${tint(c.color)}` }))
  }
  return { carets: clamped, decorations: DecorationSet.create(state.doc, decos) }
}

/** The overlay with one caret element per person, repositioned after every update and resize. */
class CaretLayer {
  #layer: HTMLElement
  #els = new Map<string, HTMLElement>()
  #resize: ResizeObserver | null = null
  #frame = 0

  constructor(private readonly view: EditorView) {
    this.#layer = document.createElement("div")
    this.#layer.className = "remote-carets"
    this.#layer.setAttribute("aria-hidden", "true")
    const host = view.dom.parentElement
    host?.append(this.#layer)
    if (typeof ResizeObserver !== "undefined") {
      this.#resize = new ResizeObserver(() => this.#schedule())
      this.#resize.observe(view.dom)
    }
    this.update()
  }

  update() {
    const carets = caretsKey.getState(this.view.state)?.carets ?? []
    const live = new Set<string>()
    const origin = this.#layer.getBoundingClientRect()
    for (const c of carets) {
      live.add(c.id)
      let el = this.#els.get(c.id)
      if (!el) {
        el = caretElement()
        this.#els.set(c.id, el)
        this.#layer.append(el)
      }
      el.dataset.peer = c.id
      el.dataset.name = c.name
      el.style.setProperty("--peer-color", c.color)
      const label = el.firstElementChild as HTMLElement
      if (label.textContent !== c.name) label.textContent = c.name
      let rect: { left: number; top: number; bottom: number }
      try {
        rect = this.view.coordsAtPos(c.head, -1)
      } catch {
        el.hidden = true
        continue
      }
      el.hidden = false
      el.style.transform = `translate(${Math.round(rect.left - origin.left)}px, ${Math.round(rect.top - origin.top)}px)`
      el.style.height = `${Math.max(12, Math.round(rect.bottom - rect.top))}px`
    }
    for (const [id, el] of this.#els) {
      if (!live.has(id)) {
        el.remove()
        this.#els.delete(id)
      }
    }
  }

  destroy() {
    cancelAnimationFrame(this.#frame)
    this.#resize?.disconnect()
    this.#layer.remove()
  }

  #schedule() {
    cancelAnimationFrame(this.#frame)
    this.#frame = requestAnimationFrame(() => this.update())
  }
}

function caretElement(): HTMLElement {
  const caret = document.createElement("div")
  caret.className = "remote-caret"
  const label = document.createElement("span")
  label.className = "remote-caret-label"
  caret.append(label)
  return caret
}

function clamp(pos: number, size: number): number {
  return Math.max(0, Math.min(pos, size))
}

/** The colour at about 25% opacity, for selection backgrounds. */
export function tint(color: string): string {
  return /^#[0-9a-f]{6}$/i.test(color) ? `${color}40` : "rgba(0, 144, 255, 0.25)"
}
