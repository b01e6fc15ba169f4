/**
 * The credentials weft's server accepts (see the server's README, "Tokens"): a JWT in
 * `Authorization: Bearer …`, a `weft_token` cookie, or a `token` query parameter.
 *
 * The browser sends a same-origin `weft_token` cookie by itself, on the WebSocket upgrade and on
 * fetch. A token given in the page's address (`/d/<id>?token=…`) is remembered for this tab
 * (sessionStorage, so navigating inside the app keeps it) and passed on: as `?token=` on the
 * WebSocket (browsers cannot set headers there) and as `Authorization: Bearer` on API calls.
 */

const SESSION_KEY = "weft:token"
let memo: string | null | undefined

function fromCookie(): string | null {
  if (typeof document === "undefined") return null
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=")
    if (k === "weft_token" && v.length) {
      const value = decodeURIComponent(v.join("="))
      if (value) return value
    }
  }
  return null // absent, or HttpOnly (then the browser still sends it for us)
}

/** The token this page was given, if any: the address's `token`, else one remembered for this tab, else a readable cookie. */
export function currentToken(): string | null {
  if (memo !== undefined) return memo ?? fromCookie()
  let tok: string | null = null
  try {
    if (typeof location !== "undefined") tok = new URLSearchParams(location.search).get("token")
    if (tok) sessionStorage.setItem(SESSION_KEY, tok)
    else tok = sessionStorage.getItem(SESSION_KEY)
  } catch {
    // storage blocked: the address's token still works for this page
  }
  memo = tok || null
  return memo ?? fromCookie()
}

/** For tests: forget what was read. */
export function resetTokenCache(): void {
  memo = undefined
}

/** The WebSocket URL with the page's token as a query parameter (when there is one that is not a cookie). */
export function withToken(socketUrl: string, token: string | null = explicitToken()): string {
  if (!token) return socketUrl
  const u = new URL(socketUrl)
  u.searchParams.set("token", token)
  return u.toString()
}

/** A token from the address or this tab's memory (a cookie travels by itself). */
function explicitToken(): string | null {
  currentToken()
  return memo ?? null
}

/** Headers for an API call: `Authorization: Bearer` when the page knows its token. */
export function authHeaders(token: string | null = currentToken()): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {}
}
