import { next as A } from "@automerge/automerge/slim"
import { decodeHeads, type DocHandle, type PeerId, type Repo, type UrlHeads } from "@automerge/automerge-repo/slim"
import type { LocalState } from "./localsave"
import type { ReconnectingWebSocketAdapter } from "./net/adapter"
import { computeStatus, serverHasLocalChanges, type Status } from "./status"

const ACK_KEY = "weft:acked"
const ACK_MAX = 200

/** Heads the server acknowledged per document, kept across reloads so an offline reload can still say "saved". */
function loadAcked(docId: string): string[] | undefined {
  try {
    const all = JSON.parse(localStorage.getItem(ACK_KEY) ?? "{}")
    const v = all?.[docId]
    return Array.isArray(v) && v.every(h => typeof h === "string") ? v : undefined
  } catch {
    return undefined
  }
}

function storeAcked(docId: string, heads: string[]) {
  try {
    const all = JSON.parse(localStorage.getItem(ACK_KEY) ?? "{}") as Record<string, string[]>
    delete all[docId]
    all[docId] = heads
    const keys = Object.keys(all)
    for (const k of keys.slice(0, Math.max(0, keys.length - ACK_MAX))) delete all[k]
    localStorage.setItem(ACK_KEY, JSON.stringify(all))
  } catch {
    // a convenience only
  }
}

/**
 * Tracks whether the server has every change of one document that this browser has, from the
 * heads the server puts in its sync messages to us, and combines that with the connection state
 * into a {@link Status}.
 *
 * Source of the server's heads: the Repo's per-peer sync state (`theirHeads`, updated on every
 * sync message the server sends; the Repo's "sync-state" event), which is also what
 * `handle.getSyncInfo(serverStorageId)` is built from. We read the event because it works whether
 * or not the server announced a storageId; getSyncInfo seeds the value when we attach late.
 */
export class SyncTracker {
  #serverHeads: string[] | undefined
  #status: Status
  #timer?: ReturnType<typeof setTimeout>
  #tick?: ReturnType<typeof setInterval>
  #unsub: (() => void)[] = []
  #stored = ""
  #local: LocalState = "saved"

  constructor(
    private readonly repo: Repo,
    private readonly handle: DocHandle<unknown>,
    private readonly adapter: ReconnectingWebSocketAdapter,
    private readonly onStatus: (s: Status) => void,
  ) {
    this.#serverHeads = this.#fromSyncInfo() ?? loadAcked(handle.documentId)
    this.#status = this.#compute()

    const onSyncState = (p: { peerId: PeerId; documentId: string; syncState: A.SyncState }) => {
      if (p.documentId !== handle.documentId || p.peerId !== this.adapter.remotePeerId) return
      const theirs = p.syncState.theirHeads
      if (theirs) {
        this.#serverHeads = theirs
        this.schedule()
      }
    }
    repo.synchronizer.on("sync-state", onSyncState)
    this.#unsub.push(() => repo.synchronizer.off("sync-state", onSyncState))

    // A new local change makes "Saved to server" false at once: recompute right away, not later.
    const onHeads = () => {
      if (this.#status.sync === "saved") this.#emitNow()
      else this.schedule()
    }
    const onRemote = () => this.schedule()
    handle.on("heads-changed", onHeads)
    handle.on("remote-heads", onRemote)
    this.#unsub.push(() => {
      handle.off("heads-changed", onHeads)
      handle.off("remote-heads", onRemote)
    })
    this.#unsub.push(adapter.subscribe(() => this.schedule(0)))
    // Refresh the "reconnecting in N s" countdown.
    this.#tick = setInterval(() => {
      if (this.adapter.info.state === "reconnecting") this.schedule(0)
    }, 1000)
    this.#emit()
  }

  get status(): Status {
    return this.#status
  }

  /** Whether this browser's stored copy is up to date (from a {@link LocalSaver}); shown at once. */
  setLocal(state: LocalState) {
    if (state === this.#local) return
    this.#local = state
    this.#emitNow()
  }

  /** Recompute soon (coalesces bursts of keystrokes and sync messages). */
  schedule(delay = 50) {
    if (this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#emit()
    }, delay)
  }

  destroy() {
    clearTimeout(this.#timer)
    clearInterval(this.#tick)
    for (const u of this.#unsub) u()
  }

  #fromSyncInfo(): string[] | undefined {
    const server = this.adapter.remotePeerId
    const storageId = server ? this.repo.getStorageIdOfPeer(server) : undefined
    const info = storageId ? this.handle.getSyncInfo(storageId) : undefined
    return info ? decodeHeads(info.lastHeads as UrlHeads) : undefined
  }

  #compute(): Status {
    let saved = false
    try {
      if (this.handle.isReady()) saved = serverHasLocalChanges(this.handle.doc() as A.Doc<unknown>, this.#serverHeads)
    } catch {
      saved = false
    }
    if (saved) {
      const heads = A.getHeads(this.handle.doc() as A.Doc<unknown>)
      const key = heads.join(",")
      if (key !== this.#stored) {
        this.#stored = key
        storeAcked(this.handle.documentId, heads)
      }
    }
    return computeStatus({ connection: this.adapter.info, savedOnServer: saved, local: this.#local, now: Date.now() })
  }

  #emitNow() {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#emit()
  }

  #emit() {
    const prev = this.#status
    this.#status = this.#compute()
    const same = this.#emitted && prev.connection === this.#status.connection && prev.sync === this.#status.sync && prev.connectionText === this.#status.connectionText && prev.local === this.#status.local
    if (same) return
    this.#emitted = true
    this.onStatus(this.#status)
  }
  #emitted = false
}
