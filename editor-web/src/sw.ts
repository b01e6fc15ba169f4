/**
 * The service worker: keeps the app itself (HTML, scripts, styles, wasm) on the device so a
 * document stored in IndexedDB opens even when the server cannot be reached.
 *
 * - Hashed files under /assets/ never change: served from the cache, fetched once.
 * - Pages (/, /d/<id>) are fetched from the network first, so a new version shows up at once;
 *   when the network fails the cached app shell is used.
 * - Everything else (the API, health checks, embed.js) goes to the network untouched.
 *
 * The build replaces the manifest placeholder with the list of files to cache up front; the cache
 * name is derived from it, so each deploy gets a fresh cache and the old one is deleted.
 */

interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void
}
interface FetchEvent extends ExtendableEvent {
  request: Request
  respondWith(r: Response | Promise<Response>): void
}
interface SWGlobal {
  addEventListener(type: "install" | "activate", fn: (e: ExtendableEvent) => void): void
  addEventListener(type: "fetch", fn: (e: FetchEvent) => void): void
  skipWaiting(): Promise<void>
  clients: { claim(): Promise<void> }
  location: Location
}
const sw = self as unknown as SWGlobal

const MANIFEST: string[] | string = "__WEFT_PRECACHE_MANIFEST__"
const FILES: string[] = Array.isArray(MANIFEST) ? MANIFEST : []
const SHELL = "/index.html"
const CACHE = `weft-${hash(FILES.join("|"))}`

sw.addEventListener("install", e => {
  e.waitUntil(
    (async () => {
      if (FILES.length > 0) {
        const cache = await caches.open(CACHE)
        // Hashed files never change, so the copies the page just downloaded (HTTP cache) are fine;
        // the shell is fetched fresh.
        await cache.addAll(FILES.map(f => new Request(f, { cache: f.startsWith("/assets/") ? "default" : "reload" })))
      }
      await sw.skipWaiting()
    })(),
  )
})

sw.addEventListener("activate", e => {
  e.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith("weft-") && key !== CACHE) await caches.delete(key)
      await sw.clients.claim()
    })(),
  )
})

sw.addEventListener("fetch", e => {
  const req = e.request
  if (req.method !== "GET") return
  const url = new URL(req.url)
  if (url.origin !== sw.location.origin) return
  const path = url.pathname
  if (path.startsWith("/assets/") || path === "/favicon.svg") {
    e.respondWith(cacheFirst(req))
  } else if (req.mode === "navigate" && (path === "/" || path === SHELL || path.startsWith("/d/"))) {
    e.respondWith(pageNetworkFirst(req))
  }
})

async function cacheFirst(req: Request): Promise<Response> {
  const cache = await caches.open(CACHE)
  const hit = await cache.match(req)
  if (hit) return hit
  const res = await fetch(req)
  if (res.ok) await cache.put(req, res.clone())
  return res
}

async function pageNetworkFirst(req: Request): Promise<Response> {
  try {
    const res = await fetchWithTimeout(req, 5000)
    if (res.ok) {
      const cache = await caches.open(CACHE)
      await cache.put(SHELL, res.clone())
    }
    return res
  } catch {
    const cache = await caches.open(CACHE)
    const shell = await cache.match(SHELL)
    if (shell) return shell
    return new Response("weft is offline and this page was never opened on this device.", {
      status: 503,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    })
  }
}

function fetchWithTimeout(req: Request, ms: number): Promise<Response> {
  const ctl = new AbortController()
  const t = setTimeout(() => ctl.abort(), ms)
  return fetch(req, { signal: ctl.signal }).finally(() => clearTimeout(t))
}

function hash(s: string): string {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return (h >>> 0).toString(36)
}
