import { next as A } from "@automerge/automerge/slim"
import type { DocHandle } from "@automerge/automerge-repo/slim"
import { pmDocFromSpans } from "@automerge/prosemirror"
import type { Node as PMNode } from "prosemirror-model"
import type { Api } from "../api"
import type { WeftDoc } from "../editor/editor"
import { TEXT_PATH } from "../editor/positions"
import { schema, schemaAdapter } from "../editor/schema"

/** How long a preview waits for changes it names to arrive through sync before asking the server. */
const SYNC_WAIT_MS = 2500

/** A version to preview; `approximate` when it came from the server as plain text. */
export interface Rendered {
  title: string
  doc: PMNode
  approximate: boolean
}

/** The document at `heads` as a ProseMirror document: from the local Automerge document, else from the server (plain text). */
export async function renderAt(handle: DocHandle<WeftDoc>, api: Api, docId: string, heads: string[]): Promise<Rendered> {
  const local = () => {
    const doc = handle.doc() as A.Doc<WeftDoc> | undefined
    if (!doc || !A.hasHeads(doc, heads as A.Heads)) return null
    const at = A.view(doc, heads as A.Heads)
    const title = typeof at.title === "string" ? at.title : ""
    const spans = typeof at.text === "string" ? A.spans(at, TEXT_PATH) : []
    return { title, doc: pmDocFromSpans(schemaAdapter, spans), approximate: false }
  }
  const now = local()
  if (now) return now
  // Not here yet: it is probably on its way through sync.
  const arrived = await new Promise<ReturnType<typeof local>>(resolve => {
    const done = (v: ReturnType<typeof local>) => {
      clearTimeout(timer)
      handle.off("heads-changed", check)
      resolve(v)
    }
    const check = () => {
      const v = local()
      if (v) done(v)
    }
    const timer = setTimeout(() => done(null), SYNC_WAIT_MS)
    handle.on("heads-changed", check)
  })
  if (arrived) return arrived
  const remote = await api.docAt(docId, heads)
  return { title: remote.title, doc: plainDoc(remote.text), approximate: true }
}

/** A ProseMirror document of paragraphs from plain text (block markers came as newlines). */
function plainDoc(text: string): PMNode {
  const lines = text.replace(/^\n/, "").split("\n")
  return schema.node(
    "doc",
    null,
    lines.map(l => schema.node("paragraph", null, l ? [schema.text(l)] : [])),
  )
}
