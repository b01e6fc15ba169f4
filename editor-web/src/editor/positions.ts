import { next as A } from "@automerge/automerge/slim"
import { amSpliceIdxToPmIdx, pmRangeToAmRange } from "@automerge/prosemirror/dist/traversal.js"
import type { Node } from "prosemirror-model"
import type { CursorRange } from "../presence/state"
import { schemaAdapter } from "./schema"

/**
 * Conversions between ProseMirror positions and Automerge cursors in the rich text.
 *
 * An Automerge cursor names a character, not an offset, so it stays on the right character while
 * other people type before it. We use @automerge/prosemirror's own index mapping (the one its sync
 * plugin uses to turn steps into splices), so positions agree with where text would be inserted.
 */

export const TEXT_PATH: A.Prop[] = ["text"]

export type Spans = A.Span[]

export function spansOf(doc: A.Doc<unknown>): Spans {
  return A.spans(doc, TEXT_PATH)
}

/** The Automerge index where text typed at ProseMirror position `pos` would go. */
export function pmToAmIndex(spans: Spans, pos: number): number {
  return pmRangeToAmRange(schemaAdapter, spans, { from: pos, to: pos })?.start ?? 0
}

/** The ProseMirror position of Automerge index `index` (clamped into `pmDoc`). */
export function amIndexToPm(spans: Spans, index: number, pmDoc: Node): number {
  const pos = amSpliceIdxToPmIdx(schemaAdapter, spans, index) ?? 1
  return Math.max(0, Math.min(pos, pmDoc.content.size))
}

/** A caret at the very start of the text (there is no character before it). */
const START = "^"

/**
 * A cursor for the caret at Automerge index `index`, attached to the character before it: text
 * typed after the caret (by its owner, or at the end of a block by anyone) does not carry it along,
 * and if that character is deleted the caret falls back to where it was.
 */
export function caretCursor(doc: A.Doc<unknown>, index: number): string {
  return index <= 0 ? START : A.getCursor(doc, TEXT_PATH, index - 1, "before")
}

/** The current Automerge index of a caret cursor; throws if it names a character we lack. */
export function caretIndex(doc: A.Doc<unknown>, cursor: string): number {
  return cursor === START ? 0 : A.getCursorPosition(doc, TEXT_PATH, cursor) + 1
}

/** Cursors for a ProseMirror selection (anchor and head). */
export function selectionToCursors(doc: A.Doc<unknown>, spans: Spans, anchor: number, head: number): CursorRange {
  const a = caretCursor(doc, pmToAmIndex(spans, anchor))
  return { anchor: a, head: anchor === head ? a : caretCursor(doc, pmToAmIndex(spans, head)) }
}

/**
 * ProseMirror positions of a remote selection, or null if a cursor names a character we do not
 * have yet (the other person's latest change has not reached us).
 */
export function cursorsToPm(
  doc: A.Doc<unknown>,
  spans: Spans,
  cursor: CursorRange,
  pmDoc: Node,
): { anchor: number; head: number } | null {
  try {
    const a = caretIndex(doc, cursor.anchor)
    const h = cursor.head === cursor.anchor ? a : caretIndex(doc, cursor.head)
    const anchor = amIndexToPm(spans, a, pmDoc)
    return { anchor, head: a === h ? anchor : amIndexToPm(spans, h, pmDoc) }
  } catch {
    return null
  }
}
