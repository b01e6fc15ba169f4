/**
 * "Discard my changes": replace this browser's copy of a document with the server's.
 *
 * The replacement is not done by the page that holds the refused changes. That page's Repo keeps
 * the document in memory and can write it back to IndexedDB at any moment: a throttled save still
 * pending, a flush on pagehide, or a message for the document (a sync message, or just someone's
 * presence relayed by the server or another tab) that makes the Repo load the document again and
 * save it. Any of these after the deletion put the refused change back, and the next page sent it
 * to the server again. So the page only records the request ({@link requestDiscard}), tells the
 * other tabs with the document open to reload, and reloads; the next page replaces the stored copy
 * ({@link replaceStoredCopy}) before its Repo has ever opened the document, checks the result
 * against the server's heads, and only then opens it.
 */
import { next as A } from "@automerge/automerge/slim"
import type { StorageAdapterInterface } from "@automerge/automerge-repo/slim"
import { sameHeads } from "./heads"

const KEY = "weft:discard"
const CHANNEL = "weft:discard"

function load(): Record<string, number> {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "{}")
    return v && typeof v === "object" ? v : {}
  } catch {
    return {}
  }
}

function store(all: Record<string, number>) {
  try {
    if (Object.keys(all).length) localStorage.setItem(KEY, JSON.stringify(all))
    else localStorage.removeItem(KEY)
  } catch {
    // storage disabled: the discard then happens in this page only (see requestDiscard)
  }
}

/**
 * Records that this browser's copy of `docId` is to be replaced by the server's on the next load,
 * and asks other tabs that have it open to reload (their copy holds the same refused changes and
 * would hand them back through the tab channel). Returns false when the request could not be
 * recorded (no localStorage).
 */
export function requestDiscard(docId: string): boolean {
  const all = load()
  all[docId] = Date.now()
  store(all)
  try {
    const ch = new BroadcastChannel(CHANNEL)
    ch.postMessage({ type: "discard", docId })
    ch.close()
  } catch {
    // no other tabs to tell
  }
  return discardRequested(docId)
}

export function discardRequested(docId: string): boolean {
  return typeof load()[docId] === "number"
}

export function clearDiscard(docId: string) {
  const all = load()
  delete all[docId]
  store(all)
}

/** Calls `fn` when another tab discards its copy of `docId`. Returns an unsubscribe function. */
export function onDiscardElsewhere(docId: string, fn: () => void): () => void {
  let ch: BroadcastChannel
  try {
    ch = new BroadcastChannel(CHANNEL)
  } catch {
    return () => {}
  }
  ch.onmessage = e => {
    const m = e.data as { type?: unknown; docId?: unknown } | null
    if (m?.type === "discard" && m.docId === docId) fn()
  }
  return () => ch.close()
}

/** The document `docId` as stored (snapshots, then incremental chunks), or null when none is. */
export async function loadStored<T = unknown>(storage: StorageAdapterInterface, docId: string): Promise<A.Doc<T> | null> {
  const chunks = [...(await storage.loadRange([docId, "snapshot"])), ...(await storage.loadRange([docId, "incremental"]))]
  let doc: A.Doc<T> | null = null
  for (const c of chunks) if (c.data) doc = A.loadIncremental(doc ?? A.init<T>(), c.data)
  return doc
}

/**
 * Replaces everything stored for `docId` (snapshots, incremental chunks, sync states) with the
 * server's copy `server`, then reads it back and checks that the stored document has exactly the
 * server's heads (`serverHeads` when the server sent them). Must run while no Repo has the
 * document open, or that Repo may write its own copy back. Returns the stored heads.
 */
export async function replaceStoredCopy(
  storage: StorageAdapterInterface,
  docId: string,
  server: Uint8Array,
  serverHeads?: readonly string[],
): Promise<string[]> {
  const doc = A.load(server)
  const heads = A.getHeads(doc)
  if (serverHeads && !sameHeads(heads, serverHeads)) {
    throw new Error(`the server's copy has heads ${heads.join(",")}, not the ${serverHeads.join(",")} it announced`)
  }
  for (const kind of ["snapshot", "incremental", "sync-state"]) await storage.removeRange([docId, kind])
  // Any key under [docId, "snapshot"] is loaded; the Repo replaces it at its next compaction.
  await storage.save([docId, "snapshot", [...heads].sort().join(",") || "empty"], A.save(doc))
  const stored = await loadStored(storage, docId)
  const got = stored ? A.getHeads(stored) : []
  if (!sameHeads(got, heads)) throw new Error(`the stored copy has heads ${got.join(",") || "(none)"} instead of the server's ${heads.join(",")}`)
  return heads
}
