/**
 * Who made a change: Automerge actor ids mapped to the names and colours people announce with
 * their presence (each tab edits with its own actor and tells others which). Remembered per
 * document in localStorage, so the history still names people after they left.
 */

export interface Author {
  name: string
  color: string
  /** An actor of this browser. */
  me?: boolean
}

const KEY = "weft:authors"
const MAX_DOCS = 100
const MAX_ACTORS = 200

type Stored = Record<string, Record<string, { n: string; c: string; m?: 1; t: number }>>

function load(): Stored {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "{}")
    return v && typeof v === "object" ? (v as Stored) : {}
  } catch {
    return {}
  }
}

export class Authors {
  #map = new Map<string, Author>()
  #dirty = false

  constructor(readonly docId: string) {
    const mine = load()[docId] ?? {}
    for (const [actor, a] of Object.entries(mine)) {
      if (typeof a?.n === "string" && typeof a?.c === "string") this.#map.set(actor, { name: a.n, color: a.c, me: a.m === 1 })
    }
  }

  get(actor: string): Author | undefined {
    return this.#map.get(actor)
  }

  /** Records that `actor` is `name` (returns true when that is news). */
  learn(actor: string, name: string, color: string, me = false): boolean {
    if (!/^[0-9a-f]{2,64}$/i.test(actor)) return false
    const known = this.#map.get(actor)
    if (known && known.name === name && known.color === color && !!known.me === me) return false
    this.#map.set(actor, { name, color, me })
    this.#dirty = true
    queueMicrotask(() => this.#save())
    return true
  }

  #save() {
    if (!this.#dirty) return
    this.#dirty = false
    try {
      const all = load()
      const mine: Stored[string] = {}
      const entries = [...this.#map.entries()].slice(-MAX_ACTORS)
      for (const [actor, a] of entries) mine[actor] = { n: a.name, c: a.color, ...(a.me ? { m: 1 as const } : {}), t: Date.now() }
      delete all[this.docId]
      all[this.docId] = mine
      const docs = Object.keys(all)
      for (const d of docs.slice(0, Math.max(0, docs.length - MAX_DOCS))) delete all[d]
      localStorage.setItem(KEY, JSON.stringify(all))
    } catch {
      // a convenience only
    }
  }
}
