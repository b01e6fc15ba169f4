/**
 * Restoring a version in the browser, from the local Automerge document.
 *
 * The server's restore (POST /api/docs/{id}/restore) is the normal path. Its engine cannot write
 * rich-text block markers or marks (automerge-rs 0.5.0): it refuses documents with blocks
 * (400 bad_edit) and brings back plain text without formatting. So after it, or instead of it, the
 * editor brings the exact rich text back itself with `updateSpans`: one local change, synced to
 * everyone like any edit.
 */
import { next as A } from "@automerge/automerge/slim"
import type { DocHandle } from "@automerge/automerge-repo/slim"
import type { WeftDoc } from "../editor/editor"
import { TEXT_PATH } from "../editor/positions"

interface Content {
  title: string
  spans: A.Span[]
}

/** The document's title and rich text at `heads`, or null when this browser does not have them. */
export function contentAt(doc: A.Doc<WeftDoc>, heads: readonly string[]): Content | null {
  if (!A.hasHeads(doc, heads as A.Heads)) return null
  const at = A.view(doc, heads as A.Heads)
  return { title: typeof at.title === "string" ? at.title : "", spans: typeof at.text === "string" ? A.spans(at, TEXT_PATH) : [] }
}

/** Whether the document now has exactly `want` as title and rich text. */
export function sameContent(doc: A.Doc<WeftDoc>, want: Content): boolean {
  const title = typeof doc.title === "string" ? doc.title : ""
  const spans = typeof doc.text === "string" ? A.spans(doc, TEXT_PATH) : []
  return title === want.title && canonical(spans) === canonical(want.spans)
}

/** JSON with object keys sorted (Automerge does not promise an order for block attributes). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  )
}

/**
 * Makes the document's title and rich text what they were at `heads`, as one change with `message`.
 * Returns false when this browser does not have those heads.
 */
export function restoreLocally(handle: DocHandle<WeftDoc>, heads: readonly string[], message: string): boolean {
  const doc = handle.doc() as A.Doc<WeftDoc> | undefined
  const want = doc ? contentAt(doc, heads) : null
  if (!doc || !want) return false
  if (sameContent(doc, want)) return true
  handle.change(
    d => {
      if (typeof d.title === "string") A.updateText(d, ["title"], want.title)
      else d.title = want.title
      if (typeof d.text !== "string") d.text = ""
      A.updateSpans(d, TEXT_PATH, want.spans)
    },
    { message },
  )
  return true
}
