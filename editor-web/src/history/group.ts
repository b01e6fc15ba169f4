/**
 * Turns a document's change list (one change per keystroke) into "edit sessions" a person can
 * read: consecutive changes by the same actor with no pause longer than a gap (2 minutes by
 * default) are one session. A change with a message (a restore, or an edit made through the HTTP
 * API) always stands alone. Pure, so it is unit-tested.
 */
import type { ChangeInfo } from "../api"

export const SESSION_GAP_MS = 2 * 60 * 1000

export interface EditSession {
  /** The hash of the session's newest change (stable across reloads of the list). */
  id: string
  actor: string
  /** How many changes it has. */
  count: number
  /** Time of its newest and oldest change with a time (ms since epoch). */
  end?: number
  start?: number
  /** The message of a change made with one (restores, API edits). */
  message?: string
  /** The document's heads right after the session's newest change (as far as the loaded changes tell). */
  heads: string[]
  /** The newest session of a list that starts at the newest change: the document as it is now. */
  current: boolean
}

export interface GroupOptions {
  gapMs?: number
  /** Whether `changes` starts at the document's newest change (the first page was loaded). */
  fromNewest?: boolean
}

export function changeTime(c: ChangeInfo): number | undefined {
  if (!c.time) return undefined
  const t = Date.parse(c.time)
  // Automerge stores 0 for "no time"; the server omits it, but be lenient.
  return Number.isFinite(t) && t > 0 ? t : undefined
}

/** Groups changes (newest first) into sessions (newest first). */
export function groupChanges(changes: readonly ChangeInfo[], opts: GroupOptions = {}): EditSession[] {
  const gap = opts.gapMs ?? SESSION_GAP_MS
  const heads = headsAfterEach(changes)
  const sessions: EditSession[] = []
  let cur: EditSession | null = null
  let prevTime: number | undefined
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]
    const t = changeTime(c)
    const msg = c.message?.trim() || undefined
    const joins =
      cur !== null &&
      cur.actor === c.actor &&
      !cur.message &&
      !msg &&
      !(t !== undefined && prevTime !== undefined && prevTime - t > gap)
    if (joins && cur) {
      cur.count++
      if (t !== undefined) {
        cur.start = t
        cur.end ??= t
      }
    } else {
      cur = {
        id: c.hash,
        actor: c.actor,
        count: 1,
        end: t,
        start: t,
        message: msg,
        heads: heads[i],
        current: sessions.length === 0 && opts.fromNewest !== false,
      }
      sessions.push(cur)
    }
    if (t !== undefined) prevTime = t
  }
  return sessions
}

/**
 * For each change (newest first), the heads of the document made of it and every older change in
 * the list: walking from the oldest, a change replaces the heads it depends on. Changes older than
 * the list are assumed to be ancestors of the oldest listed ones.
 */
export function headsAfterEach(changes: readonly ChangeInfo[]): string[][] {
  const out: string[][] = new Array(changes.length)
  const heads = new Set<string>()
  for (let i = changes.length - 1; i >= 0; i--) {
    const c = changes[i]
    for (const d of c.deps) heads.delete(d)
    heads.add(c.hash)
    out[i] = [...heads].sort()
  }
  return out
}

/** "5 changes", "1 change". */
export function countLabel(n: number): string {
  return n === 1 ? "1 change" : `${n.toLocaleString("en")} changes`
}

/** Sessions of a list grown by "load more": regroups everything so a session split by a page boundary becomes one. */
export function mergePages(pages: readonly ChangeInfo[][]): ChangeInfo[] {
  const seen = new Set<string>()
  const all: ChangeInfo[] = []
  for (const p of pages) for (const c of p) if (!seen.has(c.hash)) (seen.add(c.hash), all.push(c))
  return all
}
