import { cbor, type PeerId, type PeerMetadata } from "@automerge/automerge-repo/slim"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { Backoff, type BackoffOptions, defaultBackoff } from "./backoff"

/** What the connection to the weft server is doing. */
export type ConnectionState =
  | "connecting" // first attempt, not yet answered
  | "connected" // the server answered our join
  | "reconnecting" // lost or failed; a retry is scheduled (see nextRetryAt)
  | "offline" // the browser says there is no network; we retry when it comes back
  | "refused" // the server closed with a "do not retry" code (4500–4999)

export interface ConnectionInfo {
  state: ConnectionState
  /** When state is "reconnecting": the time (ms since epoch) of the next attempt. */
  nextRetryAt?: number
  /** When state is "refused": the server's close reason. */
  reason?: string
}

export interface AdapterOptions {
  backoff?: BackoffOptions
  /** A socket still opening after this long is abandoned and retried. */
  connectTimeoutMs?: number
}

/** Incoming messages at least this large are announced before they are processed (see onLargeMessage). */
const LARGE_MESSAGE = 64 * 1024

/** Larger than any real wait: turns the stock adapter's fixed 5 s retry loop into a no-op. */
const NEVER = 2 ** 31 - 1

/**
 * The stock automerge-repo WebSocket client adapter with its reconnect replaced: exponential
 * backoff with jitter instead of a fixed 5 s interval, an opening timeout, immediate retry when the
 * browser comes back online, no retry on the "do not retry" close codes, and a connection state
 * the UI can show.
 *
 * The wire protocol (join/peer, CBOR framing) is the stock adapter's, untouched.
 */
export class ReconnectingWebSocketAdapter extends WebSocketClientAdapter {
  #info: ConnectionInfo = { state: "connecting" }
  #listeners = new Set<(info: ConnectionInfo) => void>()
  #backoff: Backoff
  #connectTimeoutMs: number
  #retryTimer?: ReturnType<typeof setTimeout>
  #openTimer?: ReturnType<typeof setTimeout>
  #peerUp = false
  #stopped = false
  #queue: Uint8Array[] = []

  /**
   * Called with the size of a large incoming message (a whole document arriving) before it is
   * processed; processing then waits for the next paint, so a loading screen can show it. Messages
   * keep their order.
   */
  onLargeMessage?: (bytes: number) => void

  /**
   * Called with the protocol `error` messages the server sends (the stock adapter only logs them),
   * e.g. "read-only access: changes to document <id> refused".
   */
  onServerError?: (message: string) => void

  constructor(url: string, opts: AdapterOptions = {}) {
    super(url, NEVER)
    this.#backoff = new Backoff(opts.backoff ?? defaultBackoff)
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000

    const stockOpen = this.onOpen
    this.onOpen = () => {
      clearTimeout(this.#openTimer)
      stockOpen()
    }
    // Replaces the stock handler, which schedules a reconnect after a fixed interval.
    this.onClose = (ev?: unknown) => {
      clearTimeout(this.#openTimer)
      this.#peerDown()
      if (this.#stopped) return
      const code = (ev as CloseEvent | undefined)?.code ?? 0
      if (code >= 4500 && code <= 4999) {
        this.#set({ state: "refused", reason: (ev as CloseEvent).reason || `closed with code ${code}` })
        return
      }
      this.#scheduleRetry()
    }

    if (typeof window !== "undefined") {
      window.addEventListener("offline", this.#onOffline)
      window.addEventListener("online", this.#onOnline)
      if (typeof navigator !== "undefined" && navigator.onLine === false) this.#info = { state: "offline" }
    }
  }

  /** The current connection state. */
  get info(): ConnectionInfo {
    return this.#info
  }

  /** Calls fn on every state change; returns a function that unsubscribes. */
  subscribe(fn: (info: ConnectionInfo) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  override connect(peerId: PeerId, peerMetadata?: PeerMetadata) {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#stopped = false
    if (this.#info.state !== "offline" && !this.#peerUp && this.#info.state !== "connecting") {
      this.#set({ state: "connecting" })
    }
    super.connect(peerId, peerMetadata)
    const socket = this.socket
    clearTimeout(this.#openTimer)
    this.#openTimer = setTimeout(() => {
      // Still opening: give up on this socket; its close event schedules the retry.
      if (socket && socket === this.socket && socket.readyState === WebSocket.CONNECTING) socket.close()
    }, this.#connectTimeoutMs)
  }

  /** Retry at once (a "retry now" button, or the network came back). */
  retryNow() {
    if (this.#peerUp || !this.peerId) return
    this.#backoff.reset()
    this.connect(this.peerId, this.peerMetadata)
  }

  override peerCandidate(remotePeerId: PeerId, peerMetadata: PeerMetadata) {
    this.#backoff.reset()
    this.#peerUp = true
    super.peerCandidate(remotePeerId, peerMetadata)
    this.#set({ state: "connected" })
  }

  override receiveMessage(messageBytes: Uint8Array) {
    this.#checkError(messageBytes)
    if (this.#queue.length === 0 && (messageBytes.byteLength < LARGE_MESSAGE || !this.onLargeMessage)) {
      super.receiveMessage(messageBytes)
      return
    }
    this.#queue.push(messageBytes)
    if (this.#queue.length > 1) return
    this.onLargeMessage?.(messageBytes.byteLength)
    afterPaint(() => {
      while (this.#queue.length > 0) {
        const next = this.#queue[0]
        if (this.socket) super.receiveMessage(next)
        this.#queue.shift()
      }
    })
  }

  /** Reports an `error` message. Cheap for everything else: only frames containing the CBOR text "error" are decoded. */
  #checkError(bytes: Uint8Array | ArrayBuffer) {
    if (!this.onServerError) return
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)
    if (b.byteLength > 16 * 1024 || !hasCborText(b, ERROR_TEXT)) return
    try {
      const m = cbor.decode(b) as { type?: unknown; message?: unknown }
      if (m?.type === "error") this.onServerError(typeof m.message === "string" ? m.message : "error")
    } catch {
      // not CBOR: the stock adapter deals with it
    }
  }

  override send(message: Parameters<WebSocketClientAdapter["send"]>[0]) {
    // The socket can close between the Repo deciding to send and the close event reaching us;
    // the stock adapter throws then. The message is not lost: sync resumes on reconnect.
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return
    super.send(message)
  }

  override disconnect() {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#openTimer)
    if (typeof window !== "undefined") {
      window.removeEventListener("offline", this.#onOffline)
      window.removeEventListener("online", this.#onOnline)
    }
    this.#peerUp = false
    if (this.socket) super.disconnect()
  }

  #peerDown() {
    if (this.#peerUp && this.remotePeerId) {
      this.#peerUp = false
      this.emit("peer-disconnected", { peerId: this.remotePeerId })
    }
    this.#peerUp = false
  }

  #scheduleRetry() {
    clearTimeout(this.#retryTimer)
    if (this.#info.state === "offline") return // #onOnline reconnects
    const delay = this.#backoff.next()
    this.#set({ state: "reconnecting", nextRetryAt: Date.now() + delay })
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      if (this.peerId) this.connect(this.peerId, this.peerMetadata)
    }, delay)
  }

  #onOffline = () => {
    clearTimeout(this.#retryTimer)
    this.#set({ state: "offline" })
    // Do not wait for TCP to notice: drop the socket now so the UI and the Repo know.
    const socket = this.socket
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close()
    this.#peerDown()
  }

  #onOnline = () => {
    if (this.#stopped || !this.peerId) return
    this.#set({ state: "connecting" })
    this.#backoff.reset()
    this.connect(this.peerId, this.peerMetadata)
  }

  #set(info: ConnectionInfo) {
    this.#info = info
    for (const fn of this.#listeners) fn(info)
  }
}

/** Runs fn after the browser had a chance to paint (or soon, in a background tab). */
function afterPaint(fn: () => void) {
  if (typeof requestAnimationFrame === "undefined" || (typeof document !== "undefined" && document.hidden)) {
    setTimeout(fn, 0)
    return
  }
  requestAnimationFrame(() => setTimeout(fn, 0))
}

/** The CBOR encoding of the text "error" (major type 3, length 5). */
const ERROR_TEXT = new Uint8Array([0x65, 0x65, 0x72, 0x72, 0x6f, 0x72])

function hasCborText(b: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= b.length; i++) {
    for (let j = 0; j < needle.length; j++) if (b[i + j] !== needle[j]) continue outer
    return true
  }
  return false
}
