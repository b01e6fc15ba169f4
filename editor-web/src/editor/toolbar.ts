import { redo, undo, undoDepth, redoDepth } from "prosemirror-history"
import type { Command, EditorState } from "prosemirror-state"
import type { EditorView } from "prosemirror-view"
import { h, svg } from "../dom"
import { icons } from "../icons"
import { ancestor, blockKind, commands, markActive, setBlockKind, type BlockKind } from "./commands"
import { schema } from "./schema"

const mod = typeof navigator !== "undefined" && /Mac|iP(hone|[oa]d)/.test(navigator.platform) ? "⌘" : "Ctrl+"

interface Button {
  el: HTMLButtonElement
  run: Command
  active?: (s: EditorState) => boolean
}

/** The formatting toolbar. Call update(state) after every transaction. */
export class Toolbar {
  readonly el: HTMLElement
  #buttons: Button[] = []
  #select: HTMLSelectElement
  #view: EditorView | null = null

  constructor(openLink: Command) {
    this.#select = h(
      "select",
      { class: "tb-select", "aria-label": "Text style", title: "Text style", "data-testid": "block-type" },
      option("paragraph", "Normal text"),
      option("h1", "Heading 1"),
      option("h2", "Heading 2"),
      option("h3", "Heading 3"),
      option("code", "Code block"),
      h("option", { value: "other", hidden: true }, "—"),
    )
    this.#select.addEventListener("change", () => {
      const view = this.#view
      if (!view) return
      setBlockKind(this.#select.value as BlockKind)(view.state, view.dispatch, view)
      view.focus()
    })

    const b = (name: string, label: string, keys: string, icon: string, run: Command, active?: (s: EditorState) => boolean) => {
      const el = h(
        "button",
        {
          type: "button",
          class: "tb-btn",
          "data-cmd": name,
          "aria-label": label,
          title: keys ? `${label} (${keys})` : label,
          "aria-pressed": active ? "false" : null,
        },
        svg(icon),
      )
      // mousedown, not click: keep the editor's selection and focus.
      el.addEventListener("mousedown", e => {
        e.preventDefault()
        const view = this.#view
        if (!view || el.disabled) return
        run(view.state, view.dispatch, view)
        view.focus()
      })
      this.#buttons.push({ el, run, active })
      return el
    }

    const sep = () => h("span", { class: "tb-sep", role: "separator" })
    this.el = h(
      "div",
      { class: "toolbar", role: "toolbar", "aria-label": "Formatting" },
      b("undo", "Undo", `${mod}Z`, icons.undo, undo),
      b("redo", "Redo", `${mod}Shift+Z`, icons.redo, redo),
      sep(),
      this.#select,
      sep(),
      b("bold", "Bold", `${mod}B`, icons.bold, commands.bold, s => markActive(s, schema.marks.strong)),
      b("italic", "Italic", `${mod}I`, icons.italic, commands.italic, s => markActive(s, schema.marks.em)),
      b("code", "Inline code", `${mod}E`, icons.code, commands.code, s => markActive(s, schema.marks.code)),
      b("link", "Link", `${mod}K`, icons.link, openLink, s => markActive(s, schema.marks.link)),
      sep(),
      b("bullet-list", "Bulleted list", `${mod}Shift+8`, icons.bulletList, commands.bulletList, s =>
        ancestor(s, schema.nodes.bullet_list) !== null,
      ),
      b("ordered-list", "Numbered list", `${mod}Shift+7`, icons.orderedList, commands.orderedList, s =>
        ancestor(s, schema.nodes.ordered_list) !== null,
      ),
      b("blockquote", "Quote", `${mod}Shift+9`, icons.quote, commands.blockquote, s =>
        ancestor(s, schema.nodes.blockquote) !== null,
      ),
      b("code-block", "Code block", `${mod}Alt+C`, icons.codeBlock, commands.codeBlock, s =>
        s.selection.$from.parent.type === schema.nodes.code_block,
      ),
    )
  }

  attach(view: EditorView) {
    this.#view = view
    this.update(view.state)
  }

  /** Disables every control (read-only documents). */
  setDisabled(disabled: boolean) {
    this.#disabled = disabled
    this.el.setAttribute("aria-disabled", String(disabled))
    if (this.#view) this.update(this.#view.state)
  }
  #disabled = false

  update(state: EditorState) {
    if (this.#disabled) {
      for (const { el } of this.#buttons) el.disabled = true
      this.#select.disabled = true
      return
    }
    for (const { el, run, active } of this.#buttons) {
      const cmd = el.dataset.cmd
      const enabled =
        cmd === "undo" ? undoDepth(state) > 0 : cmd === "redo" ? redoDepth(state) > 0 : run(state, undefined)
      el.disabled = !enabled && !(active?.(state) ?? false)
      if (active) {
        const on = active(state)
        el.classList.toggle("active", on)
        el.setAttribute("aria-pressed", String(on))
      }
    }
    const kind = blockKind(state)
    this.#select.value = kind
    this.#select.disabled = !setBlockKind("paragraph")(state) && kind === "other"
  }
}

function option(value: string, label: string): HTMLOptionElement {
  return h("option", { value }, label)
}
