/**
 * weft's HTTP API, as the editor uses it: who am I on a document, its history, named versions,
 * views at earlier heads, and restore. Every call carries the same credentials as the WebSocket
 * (see auth.ts). Errors are {"error":{"code","message"}} with a 4xx/5xx status; they become
 * {@link ApiError}s whose message is the server's, fit to show.
 */
import { authHeaders } from "./auth"

export type Role = "read" | "write" | "admin" | "none"

export interface Me {
  user: string
  name: string
  role: Role
  auth: "none" | "jwt"
}

export interface ChangeInfo {
  hash: string
  actor: string
  seq: number
  /** RFC 3339; absent when the change carries no time. */
  time?: string
  message?: string
  deps: string[]
  size?: number
}

export interface HistoryPage {
  changes: ChangeInfo[]
  total: number
}

export interface NamedVersion {
  name: string
  /** Comma-separated change hashes. */
  heads: string
  time?: string
  user?: string
}

export interface RestoreResult {
  heads: string
  changed: boolean
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = "ApiError"
  }

  /** The server has no such endpoint (an older weft, or the API is not deployed). */
  get unavailable(): boolean {
    return this.code === "no_api" || (this.status === 404 && /no such API endpoint/i.test(this.message)) || this.status === 405 || this.status === 501
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>

export interface ApiOptions {
  /** The server's page URL (its origin); default: this page's origin. */
  base?: string
  fetch?: Fetch
  /** The token to send as Authorization: Bearer; default: the page's (auth.ts). */
  token?: () => string | null
}

export function joinHeads(heads: readonly string[]): string {
  return heads.join(",")
}

export function splitHeads(heads: string): string[] {
  return heads
    .split(",")
    .map(h => h.trim())
    .filter(Boolean)
}

const ROLES: readonly Role[] = ["read", "write", "admin", "none"]

export class Api {
  readonly base: string
  #fetch: Fetch
  #token?: () => string | null

  constructor(opts: ApiOptions = {}) {
    this.base = (opts.base ?? (typeof location !== "undefined" ? location.origin : "")).replace(/\/$/, "")
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init))
    this.#token = opts.token
  }

  /** Who the server thinks we are, and our role on `doc`. */
  async me(doc: string): Promise<Me> {
    const v = await this.#call<Partial<Me>>("GET", `/api/me?doc=${encodeURIComponent(doc)}`)
    const role = ROLES.includes(v.role as Role) ? (v.role as Role) : "none"
    return { user: String(v.user ?? ""), name: String(v.name ?? ""), role, auth: v.auth === "jwt" ? "jwt" : "none" }
  }

  /** A page of the document's changes, newest first. */
  async history(doc: string, { limit = 200, skip = 0 } = {}): Promise<HistoryPage> {
    const v = await this.#call<Partial<HistoryPage>>("GET", `/api/docs/${encodeURIComponent(doc)}/history?limit=${limit}&skip=${skip}`)
    const changes = Array.isArray(v.changes) ? v.changes.map(normalizeChange).filter((c): c is ChangeInfo => c !== null) : []
    return { changes, total: typeof v.total === "number" ? v.total : changes.length }
  }

  async versions(doc: string): Promise<NamedVersion[]> {
    const v = await this.#call<{ versions?: unknown }>("GET", `/api/docs/${encodeURIComponent(doc)}/versions`)
    return Array.isArray(v.versions) ? v.versions.filter(isVersion) : []
  }

  /** Names the server's current heads, or `heads` when given. */
  async createVersion(doc: string, name: string, heads?: readonly string[]): Promise<NamedVersion> {
    const body: Record<string, string> = { name }
    if (heads && heads.length) body.heads = joinHeads(heads)
    return this.#call<NamedVersion>("POST", `/api/docs/${encodeURIComponent(doc)}/versions`, body)
  }

  /** Brings the document back to what it was at `heads`, as a new change made by the server. */
  async restore(doc: string, heads: readonly string[], message: string): Promise<RestoreResult> {
    const v = await this.#call<Partial<RestoreResult>>("POST", `/api/docs/${encodeURIComponent(doc)}/restore`, { heads: joinHeads(heads), message })
    return { heads: String(v.heads ?? ""), changed: v.changed !== false }
  }

  /** The document as JSON as it was at `heads` (text as plain strings, block markers as newlines). */
  async docAt(doc: string, heads: readonly string[]): Promise<{ title: string; text: string }> {
    const v = await this.#call<Record<string, unknown>>("GET", `/api/docs/${encodeURIComponent(doc)}?at=${encodeURIComponent(joinHeads(heads))}`)
    const d = (v && typeof v.doc === "object" && v.doc !== null ? v.doc : v) as Record<string, unknown>
    return { title: typeof d.title === "string" ? d.title : "", text: typeof d.text === "string" ? d.text : "" }
  }

  /**
   * The document as an Automerge file (GET /api/docs/{id}/binary), with the heads the server says
   * it has (its X-Weft-Heads header; undefined when an older server does not send it).
   */
  async binary(doc: string): Promise<{ bytes: Uint8Array; heads: string[] | undefined }> {
    const res = await this.#send("GET", `/api/docs/${encodeURIComponent(doc)}/binary`, authHeaders(this.#token ? this.#token() : undefined))
    if (!res.ok) throw new ApiError(res.status, "http", `The server answered ${res.status}.`)
    const header = res.headers.get("X-Weft-Heads")
    const heads = header === null ? undefined : splitHeads(header)
    return { bytes: new Uint8Array(await res.arrayBuffer()), heads }
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...authHeaders(this.#token ? this.#token() : undefined) }
    if (body !== undefined) headers["Content-Type"] = "application/json"
    const res = await this.#send(method, path, headers, body === undefined ? undefined : JSON.stringify(body))
    const text = await res.text()
    let json: unknown = undefined
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
      if (e && typeof e.message === "string") throw new ApiError(res.status, typeof e.code === "string" ? e.code : "error", e.message)
      if (res.status === 404) throw new ApiError(404, "no_api", "no such API endpoint")
      throw new ApiError(res.status, "http", `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}.`)
    }
    if (json === undefined || typeof json !== "object" || json === null) {
      // An HTML page (a server without the API that serves the app for every path) or nothing.
      throw new ApiError(res.status, "no_api", "the server did not answer with JSON")
    }
    return json as T
  }

  /** Sends a request; a failure to reach the server is an ApiError with status 0. */
  async #send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
    try {
      return await this.#fetch(`${this.base}${path}`, { method, headers, body, credentials: "same-origin", cache: "no-store" })
    } catch {
      throw new ApiError(0, "network", "Can't reach the server. Check your connection and try again.")
    }
  }
}

/** A history entry, or null when it is not one. `deps` may come as a list or, like every other heads value of the API, as a comma-separated string. */
function normalizeChange(c: unknown): ChangeInfo | null {
  const o = c as Record<string, unknown>
  if (!o || typeof o.hash !== "string" || typeof o.actor !== "string") return null
  const deps = Array.isArray(o.deps) ? o.deps.filter((d): d is string => typeof d === "string") : typeof o.deps === "string" ? splitHeads(o.deps) : []
  return {
    hash: o.hash,
    actor: o.actor,
    seq: typeof o.seq === "number" ? o.seq : 0,
    time: typeof o.time === "string" ? o.time : undefined,
    message: typeof o.message === "string" ? o.message : "",
    deps,
    size: typeof o.size === "number" ? o.size : undefined,
  }
}

function isVersion(v: unknown): v is NamedVersion {
  const o = v as Record<string, unknown>
  return !!o && typeof o.name === "string" && typeof o.heads === "string"
}
