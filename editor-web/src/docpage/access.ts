import { isValidDocumentId } from "@automerge/automerge-repo/slim"
import type { Api, Me, Role } from "../api"

const ROLES_KEY = "weft:roles"

/** The role last learned for a document, so an offline reload of a read-only document stays read-only. */
export function cachedRole(id: string): Role | null {
  try {
    const v = JSON.parse(localStorage.getItem(ROLES_KEY) ?? "{}")?.[id]
    return v === "read" || v === "write" || v === "admin" || v === "none" ? v : null
  } catch {
    return null
  }
}

export function cacheRole(id: string, role: Role) {
  try {
    const all = JSON.parse(localStorage.getItem(ROLES_KEY) ?? "{}") as Record<string, Role>
    delete all[id]
    all[id] = role
    const keys = Object.keys(all)
    for (const k of keys.slice(0, Math.max(0, keys.length - 200))) delete all[k]
    localStorage.setItem(ROLES_KEY, JSON.stringify(all))
  } catch {
    // a convenience only
  }
}

/**
 * Who we are on this document (GET /api/me, with the WebSocket's credentials), asked at once so
 * the answer is usually in before the document is. Until then, the last known role applies.
 */
export class Access {
  /** The server's answer, once it is in (null before, or when there is none). */
  me: Me | null = null
  readonly ready: Promise<Me | null>

  constructor(
    api: Api,
    private readonly id: string,
  ) {
    this.ready = isValidDocumentId(id)
      ? api.me(id).then(
          m => {
            this.me = m
            cacheRole(id, m.role)
            return m
          },
          () => null, // an older server, or offline: the WebSocket decides
        )
      : Promise.resolve(null)
  }

  /** The role answered, or else the one remembered. */
  get role(): Role | null {
    return this.me?.role ?? cachedRole(this.id)
  }

  /** The answer, or null when it has not come within `ms`. */
  within(ms: number): Promise<Me | null> {
    return Promise.race([this.ready, new Promise<null>(r => setTimeout(() => r(null), ms))])
  }
}
