/** Recently opened documents, newest first, remembered in localStorage. */

export interface RecentDoc {
  id: string
  title: string
  openedAt: number
}

const KEY = "weft:recent"
const MAX = 30

export function recentDocs(): RecentDoc[] {
  try {
    const list = JSON.parse(window.localStorage.getItem(KEY) ?? "[]")
    if (!Array.isArray(list)) return []
    return list.filter(
      (d): d is RecentDoc => typeof d?.id === "string" && typeof d?.title === "string" && typeof d?.openedAt === "number",
    )
  } catch {
    return []
  }
}

export function rememberDoc(id: string, title: string): void {
  const list = recentDocs().filter(d => d.id !== id)
  list.unshift({ id, title, openedAt: Date.now() })
  try {
    window.localStorage.setItem(KEY, JSON.stringify(list.slice(0, MAX)))
  } catch {
    // storage full or blocked: the list is a convenience
  }
}

export function forgetDoc(id: string): void {
  try {
    window.localStorage.setItem(KEY, JSON.stringify(recentDocs().filter(d => d.id !== id)))
  } catch {
    // ignore
  }
}

/** "just now", "5 min ago", "yesterday", or a date. */
export function relativeTime(t: number, now = Date.now()): string {
  const s = Math.round((now - t) / 1000)
  if (s < 60) return "just now"
  const m = Math.round(s / 60)
  if (m < 60) return `${m} min ago`
  const h = Math.round(m / 60)
  if (h < 24) return `${h} h ago`
  const d = Math.round(h / 24)
  if (d === 1) return "yesterday"
  if (d < 7) return `${d} days ago`
  return new Date(t).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" })
}
