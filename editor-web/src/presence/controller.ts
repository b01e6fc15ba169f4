import { next as A } from "@automerge/automerge/slim"
import type { DocHandle, DocHandleEphemeralMessagePayload } from "@automerge/automerge-repo/slim"
import type { EditorView } from "prosemirror-view"
import { readPendingSelection } from "../editor/pending-selection"
import { cursorsToPm, selectionToCursors, spansOf } from "../editor/positions"
import type { Identity } from "../identity"
import { setCarets, type RemoteCaret } from "./carets"
import {
  HEARTBEAT_MS,
  PEER_TTL_MS,
  PresenceState,
  isPresenceMessage,
  type Peer,
  type PresenceMessage,
} from "./state"

/** How long we wait after a selection change before telling others (keeps typing cheap). */
const SEND_DELAY_MS = 60
/** How long we wait after a remote change before re-resolving everyone's cursors. */
const RESOLVE_DELAY_MS = 80

export interface PresenceOptions {
  handle: DocHandle<unknown>
  view: EditorView
  identity: Identity
  /** Called whenever the set of people here (or their names) changes. */
  onPeers?: (peers: Peer[]) => void
}

/**
 * Sends this tab's name, colour and selection as ephemeral messages (handle.broadcast: relayed by
 * the server to everyone with the document open, and to other tabs through the BroadcastChannel),
 * and turns what others send into carets in the editor and a list of people.
 */
export class PresenceController {
  readonly id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
  readonly state: PresenceState
  #seq = 0
  #handle: DocHandle<unknown>
  #view: EditorView
  #identity: Identity
  #onPeers?: (peers: Peer[]) => void
  #sendTimer?: ReturnType<typeof setTimeout>
  #resolveTimer?: ReturnType<typeof setTimeout>
  #heartbeat?: ReturnType<typeof setInterval>
  #lastSent = 0
  #lastSentKey = ""
  #lastCarets = new Map<string, { anchor: number; head: number }>()
  #destroyed = false

  constructor(opts: PresenceOptions) {
    this.#handle = opts.handle
    this.#view = opts.view
    this.#identity = opts.identity
    this.#onPeers = opts.onPeers
    this.state = new PresenceState(this.id, PEER_TTL_MS)

    this.#handle.on("ephemeral-message", this.#onMessage)
    this.#handle.on("change", this.#onDocChange)
    this.#heartbeat = setInterval(this.#tick, HEARTBEAT_MS)
    window.addEventListener("pagehide", this.#onPageHide)
    this.sendNow()
  }

  /** The selection changed (or our name did): tell the others soon. */
  selectionChanged() {
    if (this.#sendTimer) return
    this.#sendTimer = setTimeout(() => {
      this.#sendTimer = undefined
      this.sendNow()
    }, SEND_DELAY_MS)
  }

  setIdentity(identity: Identity) {
    this.#identity = identity
    this.sendNow()
  }

  sendNow() {
    if (this.#destroyed) return
    clearTimeout(this.#sendTimer)
    this.#sendTimer = undefined
    const { anchor, head } = this.#view.state.selection
    let cursor = null
    let actor: string | undefined
    try {
      const doc = this.#handle.doc()
      if (doc) {
        actor = A.getActorId(doc)
        cursor = selectionToCursors(doc, spansOf(doc), anchor, head)
      }
    } catch {
      cursor = null // the view and the document disagree for a moment; the next change resends
    }
    const key = JSON.stringify([cursor, this.#identity.name, this.#identity.color])
    // Heartbeats repeat the state; skip only exact repeats within a heartbeat.
    if (key === this.#lastSentKey && Date.now() - this.#lastSent < HEARTBEAT_MS - 200) return
    this.#lastSentKey = key
    this.#lastSent = Date.now()
    this.#send({
      weft: "presence",
      type: "state",
      id: this.id,
      seq: ++this.#seq,
      name: this.#identity.name,
      color: this.#identity.color,
      cursor,
      actor,
    })
  }

  /** People here now, not counting us. */
  peers(): Peer[] {
    return this.state.peers()
  }

  destroy() {
    if (this.#destroyed) return
    this.#send({ weft: "presence", type: "bye", id: this.id, seq: ++this.#seq })
    this.#destroyed = true
    clearTimeout(this.#sendTimer)
    clearTimeout(this.#resolveTimer)
    clearInterval(this.#heartbeat)
    window.removeEventListener("pagehide", this.#onPageHide)
    this.#handle.off("ephemeral-message", this.#onMessage)
    this.#handle.off("change", this.#onDocChange)
  }

  #send(msg: PresenceMessage) {
    try {
      this.#handle.broadcast(msg)
    } catch {
      // not connected to anyone: nothing to tell
    }
  }

  #onMessage = (e: DocHandleEphemeralMessagePayload<unknown>) => {
    const msg = e.message
    if (!isPresenceMessage(msg)) return
    if (msg.type === "state") msg.color = /^#[0-9a-f]{6}$/i.test(msg.color) ? msg.color : "#0090ff"
    const ev = this.state.apply(msg, Date.now())
    if (!ev) return
    // A newcomer should see us at once, not at our next heartbeat.
    if (ev === "join") {
      this.#lastSentKey = ""
      this.selectionChanged()
    }
    this.#notifyPeers()
    this.#scheduleResolve(0)
  }

  /** Tells onPeers when someone came, went, or changed name or colour (not on cursor moves). */
  #notifyPeers() {
    const peers = this.state.peers()
    const key = peers.map(p => `${p.id}:${p.name}:${p.color}:${p.actor ?? ""}`).join("|")
    if (key === this.#peersKey) return
    this.#peersKey = key
    this.#onPeers?.(peers)
  }
  #peersKey = ""

  #onDocChange = () => {
    if (this.state.size > 0) this.#scheduleResolve(RESOLVE_DELAY_MS)
  }

  #tick = () => {
    const gone = this.state.expire(Date.now())
    if (gone.length) {
      this.#notifyPeers()
      this.#scheduleResolve(0)
    }
    this.sendNow()
  }

  #onPageHide = () => {
    this.#send({ weft: "presence", type: "bye", id: this.id, seq: ++this.#seq })
  }

  #scheduleResolve(delay: number) {
    if (this.#resolveTimer) return
    this.#resolveTimer = setTimeout(() => {
      this.#resolveTimer = undefined
      this.#resolve()
    }, delay)
  }

  /** Re-resolves every remote cursor against the current document and redraws the carets. */
  #resolve() {
    if (this.#destroyed) return
    const doc = this.#handle.doc()
    const view = this.#view
    const carets: RemoteCaret[] = []
    const peers = this.state.peers()
    const spans = peers.some(p => p.cursor) && doc ? spansOf(doc) : []
    const live = new Set<string>()
    for (const p of peers) {
      if (!p.cursor || !doc) continue
      live.add(p.id)
      const pos = cursorsToPm(doc, spans, p.cursor, view.state.doc) ?? this.#lastCarets.get(p.id)
      if (!pos) continue
      this.#lastCarets.set(p.id, pos)
      carets.push({ id: p.id, name: p.name, color: p.color, ...pos })
    }
    for (const id of this.#lastCarets.keys()) if (!live.has(id)) this.#lastCarets.delete(id)
    readPendingSelection(view)
    view.dispatch(setCarets(view.state, carets))
  }
}
