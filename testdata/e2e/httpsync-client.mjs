// An Automerge sync client over weft's HTTP sync endpoint (POST /api/docs/{id}/sync), for
// callers that cannot hold a WebSocket. It uses @automerge/automerge's own sync functions
// (initSyncState, generateSyncMessage, receiveSyncMessage); the endpoint carries their messages
// as base64 strings and long-polls for the server's next ones.
//
//   import * as A from "@automerge/automerge"
//   import { HttpSyncClient } from "./httpsync-client.mjs"
//
//   const client = new HttpSyncClient({ url: "http://localhost:8080", documentId, token })
//   client.onChange = doc => console.log(doc)   // after each batch of remote changes
//   client.start()                              // sync now, then long-poll
//   client.change(d => { d.title = "Notes" })   // a local change: sent at once
//   await client.stop()
//
// One exchange: generateSyncMessage(doc, state) → POST {peerId, messages: [base64], wait} →
// receiveSyncMessage(doc, state, m) for each returned message. The server keeps one sync state
// per peerId for 2 minutes after its last request; when it answers `new: true` on a later
// request it has started over, and so does the client (initSyncState). After a failed request
// the next one carries `reset: true` and the client starts from a fresh sync state as well.
// A request of the same peerId ends the server's wait for an earlier one: a local change made
// while a long poll is pending is sent at once, in a request of its own.

import * as A from "@automerge/automerge"

const b64 = bytes => Buffer.from(bytes).toString("base64")
const unb64 = s => new Uint8Array(Buffer.from(s, "base64"))

export class HttpSyncClient {
  /**
   * @param {object} o
   * @param {string} o.url         server base URL, e.g. "http://localhost:8080"
   * @param {string} o.documentId  the document's id (an automerge: URL without "automerge:")
   * @param {A.Doc} [o.doc]        the local document (default: empty, filled by sync)
   * @param {string} [o.peerId]    this client's peer id (default: random)
   * @param {string} [o.token]     a JWT, sent as Authorization: Bearer
   * @param {number} [o.wait]      long-poll seconds (0–60, default 25)
   */
  constructor({ url, documentId, doc, peerId, token, wait = 25 }) {
    this.url = url.replace(/\/$/, "")
    this.documentId = documentId.replace(/^automerge:/, "")
    this.peerId = peerId ?? "http-" + Math.random().toString(36).slice(2)
    this.token = token
    this.wait = wait
    this.doc = doc ?? A.init()
    this.syncState = A.initSyncState()
    /** The server's heads after the last exchange (comma-separated hex). */
    this.serverHeads = null
    /** Called with the document after remote changes arrived. */
    this.onChange = null
    /** Called with an Error when an exchange failed (the loop retries). */
    this.onError = null
    this.errors = [] // protocol errors the server reported (e.g. a read-only caller's changes)
    this.exchanges = 0
    this.#abort = new AbortController()
  }

  #abort
  #loop = null
  #stopped = false
  #reset = false
  #nudging = null
  #nudgeAgain = false

  /** Applies a local change and sends it (at once, even while a long poll waits). */
  change(fn, message) {
    this.doc = A.change(this.doc, message ? { message } : {}, fn)
    if (this.#loop) this.#nudge()
    return this.doc
  }

  /** Heads of the local document, sorted. */
  heads() {
    return [...A.getHeads(this.doc)].sort()
  }

  /**
   * One exchange: sends what generateSyncMessage has (if anything), applies the server's
   * replies, returns the response body. wait: seconds to long-poll when there is no reply.
   */
  async exchange(wait = 0) {
    let msg
    ;[this.syncState, msg] = A.generateSyncMessage(this.doc, this.syncState)
    const body = { peerId: this.peerId, messages: msg ? [b64(msg)] : [], wait }
    if (this.#reset) body.reset = true
    const headers = { "Content-Type": "application/json" }
    if (this.token) headers.Authorization = `Bearer ${this.token}`
    let res, out
    try {
      res = await fetch(`${this.url}/api/docs/${this.documentId}/sync`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: this.#abort.signal,
      })
      out = await res.json()
    } catch (e) {
      this.#startOver()
      throw e
    }
    if (!res.ok) {
      this.#startOver()
      throw new Error(`sync: HTTP ${res.status} ${out?.error?.code}: ${out?.error?.message}`)
    }
    this.#reset = false
    // The server started a fresh sync state for us (not on our first request, where that is
    // expected): what we sent may have assumed state it no longer has, so start over too.
    if (out.new && this.exchanges > 0) this.syncState = A.initSyncState()
    this.exchanges++
    const before = A.getHeads(this.doc).join()
    for (const m of out.messages) {
      ;[this.doc, this.syncState] = A.receiveSyncMessage(this.doc, this.syncState, unb64(m))
    }
    if (out.errors?.length) this.errors.push(...out.errors)
    this.serverHeads = out.heads
    if (A.getHeads(this.doc).join() !== before) this.onChange?.(this.doc)
    return out
  }

  // After a failed request a message may be lost on either side: both start over.
  #startOver() {
    this.#reset = true
    this.syncState = A.initSyncState()
  }

  /** Syncs until neither side has anything to send (no long poll). */
  async syncNow(maxRounds = 20) {
    for (let i = 0; i < maxRounds; i++) {
      const out = await this.exchange(0)
      const [, next] = A.generateSyncMessage(this.doc, this.syncState) // a peek: the state is not changed
      if (out.messages.length === 0 && !next) return
    }
  }

  /** Starts syncing in the background: exchanges, then long polls, until stop(). */
  start() {
    if (this.#loop) return
    this.#loop = (async () => {
      let backoff = 100
      while (!this.#stopped) {
        try {
          await this.exchange(this.wait)
          backoff = 100
        } catch (e) {
          if (this.#stopped) break
          this.onError?.(e)
          await new Promise(r => setTimeout(r, backoff))
          backoff = Math.min(backoff * 2, 5000)
        }
      }
    })()
  }

  // A local change while the loop's long poll waits: a request of our own sends it (and ends
  // the server's wait for the long poll, which then returns and polls again).
  async #nudge() {
    if (this.#nudging) {
      this.#nudgeAgain = true
      return
    }
    this.#nudging = (async () => {
      do {
        this.#nudgeAgain = false
        try {
          await this.exchange(0)
        } catch (e) {
          if (!this.#stopped) this.onError?.(e)
        }
      } while (this.#nudgeAgain && !this.#stopped)
    })()
    await this.#nudging
    this.#nudging = null
  }

  /** Stops syncing: lets a local change being sent finish, then aborts the long poll. */
  async stop() {
    this.#stopped = true
    await this.#nudging?.catch(() => {})
    this.#abort.abort()
    await this.#loop?.catch(() => {})
  }
}
