import type { EditorView } from "prosemirror-view"

/**
 * Makes ProseMirror take in a selection change the browser made but has not reported yet (a caret
 * moved by a native key such as End, whose "selectionchange" event is still queued). Call before
 * dispatching anything that did not come from the user: otherwise ProseMirror redraws the old
 * selection over the new one and the caret jumps back.
 */
export function readPendingSelection(view: EditorView) {
  const observer = (view as unknown as { domObserver?: { flush?: () => void } }).domObserver
  if (view.hasFocus()) observer?.flush?.()
}
