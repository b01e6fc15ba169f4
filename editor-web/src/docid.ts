import { isValidDocumentId, type DocumentId } from "@automerge/automerge-repo/slim"

/**
 * Turns what someone pasted into the "open" field into a document id, or null.
 * Accepts a weft link (https://host/d/<id>), a path (/d/<id>), an automerge URL
 * (automerge:<id>, heads after '#' are ignored) or a bare id.
 */
export function parseDocInput(input: string): DocumentId | null {
  let s = input.trim()
  if (!s) return null
  if (s.startsWith("automerge:")) s = s.slice("automerge:".length).split("#")[0]
  else {
    const m = /(?:^|\/)d\/([^/?#\s]+)/.exec(s)
    if (m) s = m[1]
  }
  s = s.replace(/[/?#].*$/, "")
  return isValidDocumentId(s) ? (s as DocumentId) : null
}

/** The document id in a /d/<id> path, or null. */
export function docIdFromPath(pathname: string): string | null {
  const m = /^\/d\/([^/]+)\/?$/.exec(pathname)
  return m ? decodeURIComponent(m[1]) : null
}
