import { baseKeymap, chainCommands, exitCode, lift, setBlockType, toggleMark, wrapIn } from "prosemirror-commands"
import { redo, undo } from "prosemirror-history"
import {
  InputRule,
  undoInputRule,
  ellipsis,
  emDash,
  inputRules,
  textblockTypeInputRule,
  wrappingInputRule,
} from "prosemirror-inputrules"
import { keymap } from "prosemirror-keymap"
import type { MarkType, NodeType } from "prosemirror-model"
import { liftListItem, sinkListItem, splitListItem, wrapInList } from "prosemirror-schema-list"
import type { Command, EditorState, Plugin } from "prosemirror-state"
import { schema } from "./schema"

const { nodes, marks } = schema

/** The kind of the block the selection starts in, for the block-type menu. */
export type BlockKind = "paragraph" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "code" | "other"

export function blockKind(state: EditorState): BlockKind {
  const { $from, to } = state.selection
  const parent = $from.parent
  // A selection spanning blocks of different kinds shows no single kind.
  let mixed = false
  state.doc.nodesBetween($from.pos, to, n => {
    if (n.isTextblock && (n.type !== parent.type || n.attrs.level !== parent.attrs.level)) mixed = true
    return !mixed
  })
  if (mixed) return "other"
  if (parent.type === nodes.paragraph) return "paragraph"
  if (parent.type === nodes.heading) return `h${parent.attrs.level}` as BlockKind
  if (parent.type === nodes.code_block) return "code"
  return "other"
}

export function setBlockKind(kind: BlockKind): Command {
  switch (kind) {
    case "paragraph":
      return setBlockType(nodes.paragraph)
    case "code":
      return setBlockType(nodes.code_block)
    case "other":
      return () => false
    default:
      return setBlockType(nodes.heading, { level: Number(kind.slice(1)) })
  }
}

export function markActive(state: EditorState, type: MarkType): boolean {
  const { from, $from, to, empty } = state.selection
  if (empty) return !!type.isInSet(state.storedMarks || $from.marks())
  return state.doc.rangeHasMark(from, to, type)
}

/** The innermost list or blockquote around the selection, by node type. */
export function ancestor(state: EditorState, type: NodeType): number | null {
  const { $from } = state.selection
  for (let d = $from.depth; d > 0; d--) {
    const n = $from.node(d)
    if (n.type === type) return d
    // A list inside a blockquote inside a list: only the innermost list counts.
    if (type !== nodes.blockquote && (n.type === nodes.bullet_list || n.type === nodes.ordered_list)) return null
  }
  return null
}

/** Wraps the selection in a list of `type`; unwraps it if it is one; switches the kind if it is the other kind. */
export function toggleList(type: NodeType): Command {
  return (state, dispatch) => {
    const other = type === nodes.bullet_list ? nodes.ordered_list : nodes.bullet_list
    if (ancestor(state, type) !== null) return liftListItem(nodes.list_item)(state, dispatch)
    const d = ancestor(state, other)
    if (d !== null) {
      if (dispatch) {
        const pos = state.selection.$from.before(d)
        dispatch(state.tr.setNodeMarkup(pos, type).scrollIntoView())
      }
      return true
    }
    return wrapInList(type)(state, dispatch)
  }
}

export function toggleBlockquote(): Command {
  return (state, dispatch) =>
    ancestor(state, nodes.blockquote) !== null ? lift(state, dispatch) : wrapIn(nodes.blockquote)(state, dispatch)
}

export const commands = {
  bold: toggleMark(marks.strong),
  italic: toggleMark(marks.em),
  code: toggleMark(marks.code),
  bulletList: toggleList(nodes.bullet_list),
  orderedList: toggleList(nodes.ordered_list),
  blockquote: toggleBlockquote(),
  codeBlock: ((state, dispatch) =>
    state.selection.$from.parent.type === nodes.code_block
      ? setBlockType(nodes.paragraph)(state, dispatch)
      : setBlockType(nodes.code_block)(state, dispatch)) as Command,
  undo,
  redo,
}

/** Tab in a code block inserts two spaces. */
const codeTab: Command = (state, dispatch) => {
  if (state.selection.$from.parent.type !== nodes.code_block) return false
  if (dispatch) dispatch(state.tr.insertText("  ").scrollIntoView())
  return true
}

/** Keyboard shortcuts; `openLink` is called for Mod-K. */
export function editorKeymaps(openLink: Command): Plugin[] {
  const mac = typeof navigator !== "undefined" && /Mac|iP(hone|[oa]d)/.test(navigator.platform)
  const keys: Record<string, Command> = {
    "Mod-z": undo,
    Backspace: undoInputRule,
    "Shift-Mod-z": redo,
    "Mod-b": commands.bold,
    "Mod-i": commands.italic,
    "Mod-e": commands.code,
    "Mod-`": commands.code,
    "Mod-k": openLink,
    "Mod-Alt-0": setBlockKind("paragraph"),
    "Mod-Alt-1": setBlockKind("h1"),
    "Mod-Alt-2": setBlockKind("h2"),
    "Mod-Alt-3": setBlockKind("h3"),
    "Mod-Alt-c": commands.codeBlock,
    "Shift-Mod-7": commands.orderedList,
    "Shift-Mod-8": commands.bulletList,
    "Shift-Mod-9": commands.blockquote,
    "Mod-Enter": exitCode,
    "Shift-Enter": exitCode,
    Enter: splitListItem(nodes.list_item),
    Tab: chainCommands(codeTab, sinkListItem(nodes.list_item)),
    "Shift-Tab": liftListItem(nodes.list_item),
  }
  if (!mac) keys["Mod-y"] = redo
  return [keymap(keys), keymap(baseKeymap)]
}

/** Markdown-style shortcuts at the start of a line: "# ", "- ", "1. ", "> ", "```". */
export function editorInputRules(): Plugin {
  return inputRules({
    rules: [
      ellipsis,
      emDash,
      textblockTypeInputRule(/^(#{1,3})\s$/, nodes.heading, m => ({ level: m[1].length })),
      wrappingInputRule(/^\s*([-+*])\s$/, nodes.bullet_list),
      wrappingInputRule(
        /^(\d+)\.\s$/,
        nodes.ordered_list,
        m => ({ order: +m[1] }),
        (m, node) => node.childCount + node.attrs.order == +m[1],
      ),
      wrappingInputRule(/^\s*>\s$/, nodes.blockquote),
      textblockTypeInputRule(/^```$/, nodes.code_block),
      markRule(/(?:^|[^`])`([^`]+)`$/, "`", marks.code),
      markRule(/(?:^|[^*])\*\*([^*]+)\*\*$/, "**", marks.strong),
    ],
  })
}

/**
 * `x` → x in code (or **x** → bold) when the closing delimiter is typed. The handler gets the match
 * over the text before the caret plus the typed character, which is not in the document yet.
 */
function markRule(re: RegExp, delim: string, type: MarkType): InputRule {
  return new InputRule(re, (state, match, start, end) => {
    const inner = match[1]
    const L = delim.length
    const openFrom = start + match[0].length - (2 * L + inner.length)
    const innerFrom = openFrom + L
    const innerTo = innerFrom + inner.length
    const tr = state.tr
    tr.delete(innerTo, end) // the part of the closing delimiter already typed
    tr.delete(openFrom, innerFrom)
    tr.addMark(openFrom, openFrom + inner.length, type.create())
    tr.removeStoredMark(type)
    return tr
  })
}
