/**
 * Who else is in a document, as learned from ephemeral presence messages.
 *
 * Every client sends a "state" message when its selection or name changes and at least every
 * {@link HEARTBEAT_MS}; a "bye" when the page goes away. A peer we have not heard from for
 * {@link PEER_TTL_MS} is dropped, so people whose tab crashed or whose network died vanish within
 * seconds. Messages may arrive twice or out of order (through the server and through a
 * BroadcastChannel between tabs), so each carries a per-sender sequence number and stale ones are
 * ignored.
 */

export const HEARTBEAT_MS = 3_000
export const PEER_TTL_MS = 10_000

/** A selection as two Automerge cursors into the text (anchor = where it started, head = the caret). */
export interface CursorRange {
  anchor: string
  head: string
}

export interface PresenceStateMessage {
  weft: "presence"
  type: "state"
  /** Per-tab id, random. */
  id: string
  seq: number
  name: string
  color: string
  cursor: CursorRange | null
  /** The Automerge actor id (hex) this tab edits with, so history can name its changes. */
  actor?: string
}

export interface PresenceByeMessage {
  weft: "presence"
  type: "bye"
  id: string
  seq: number
}

export type PresenceMessage = PresenceStateMessage | PresenceByeMessage

export interface Peer {
  id: string
  name: string
  color: string
  cursor: CursorRange | null
  lastSeen: number
  actor?: string
}

export type PresenceEvent = "join" | "update" | "leave"

export function isPresenceMessage(m: unknown): m is PresenceMessage {
  if (typeof m !== "object" || m === null) return false
  const o = m as Record<string, unknown>
  if (o.weft !== "presence" || typeof o.id !== "string" || typeof o.seq !== "number") return false
  if (o.type === "bye") return true
  if (o.type !== "state" || typeof o.name !== "string" || typeof o.color !== "string") return false
  if (o.cursor === null) return true
  const c = o.cursor as Record<string, unknown> | undefined
  return typeof c === "object" && c !== null && typeof c.anchor === "string" && typeof c.head === "string"
}

export class PresenceState {
  #peers = new Map<string, Peer>()
  /** Highest seq seen per id, kept after a peer left so late duplicates do not resurrect it. */
  #seq = new Map<string, { seq: number; at: number }>()

  constructor(
    readonly selfId: string,
    readonly ttlMs: number = PEER_TTL_MS,
  ) {}

  /** Applies a message received at `now`; returns what happened, or null if it changed nothing. */
  apply(msg: PresenceMessage, now: number): PresenceEvent | null {
    if (msg.id === this.selfId) return null
    const last = this.#seq.get(msg.id)
    if (last && msg.seq <= last.seq) return null
    this.#seq.set(msg.id, { seq: msg.seq, at: now })

    if (msg.type === "bye") {
      return this.#peers.delete(msg.id) ? "leave" : null
    }
    const known = this.#peers.get(msg.id)
    this.#peers.set(msg.id, {
      id: msg.id,
      name: msg.name.slice(0, 60) || "Anonymous",
      color: msg.color,
      cursor: msg.cursor,
      lastSeen: now,
      actor: typeof msg.actor === "string" && /^[0-9a-f]{2,64}$/i.test(msg.actor) ? msg.actor : undefined,
    })
    return known ? "update" : "join"
  }

  /** Drops peers not heard from within the TTL; returns their ids. */
  expire(now: number): string[] {
    const gone: string[] = []
    for (const [id, p] of this.#peers) {
      if (now - p.lastSeen > this.ttlMs) {
        this.#peers.delete(id)
        gone.push(id)
      }
    }
    // Forget sequence numbers of long-gone senders (a tab that comes back starts a new id).
    for (const [id, s] of this.#seq) {
      if (!this.#peers.has(id) && now - s.at > 6 * this.ttlMs) this.#seq.delete(id)
    }
    return gone
  }

  /** Forgets everyone (for example when our own connection is lost). */
  clear(): string[] {
    const ids = [...this.#peers.keys()]
    this.#peers.clear()
    return ids
  }

  get(id: string): Peer | undefined {
    return this.#peers.get(id)
  }

  /** Everyone here but us, in a stable order (by name, then id). */
  peers(): Peer[] {
    return [...this.#peers.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
  }

  get size(): number {
    return this.#peers.size
  }
}
