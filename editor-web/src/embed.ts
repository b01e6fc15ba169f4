/**
 * <weft-editor server="https://weft.example.com" document="<documentId>" name="Ada">
 *
 * A weft document editor for any page. Load it with
 *   <script type="module" src="https://weft.example.com/embed.js"></script>
 *
 * Attributes: `server` (the weft server's URL; default: where embed.js came from), `document` (the
 * document id; without one a new document is created and the attribute is set), `name` (the
 * display name shown to others; default: the name remembered on this site, or "Guest").
 *
 * Events (bubbling CustomEvents):
 *   ready   {documentId}                              the document is open
 *   change  {documentId, title, text, local}          after every change, local or remote
 *   status  {documentId, connection, sync, connectionText, syncText, local, localText, detail}
 *           (`local`: "saved" once every change is stored in this browser, "saving", "failed")
 *   error   {documentId, message}                     the document does not exist, or another failure
 * Properties: documentId, title, text, status (the last status event's detail).
 */
import type { DocHandle, DocumentId } from "@automerge/automerge-repo/slim"
import editorCss from "./styles/editor.css?url"
import embedCss from "./styles/embed.css?url"
import { avatar } from "./chrome"
import { h, svg } from "./dom"
import { DocumentEditor, type WeftDoc } from "./editor/editor"
import { icons } from "./icons"
import { identity, savedName } from "./identity"
import { LocalSaver } from "./localsave"
import { createClient, type Client } from "./repo"
import type { Status } from "./status"
import { SyncTracker } from "./sync"

const SCRIPT_URL = import.meta.url
const clients = new Map<string, Promise<Client>>()

function clientFor(server: string): Promise<Client> {
  const origin = new URL(server, SCRIPT_URL).origin
  let c = clients.get(origin)
  if (!c) {
    c = createClient(origin, `weft-embed:${origin}`)
    clients.set(origin, c)
  }
  return c
}

function injectStyles() {
  if (document.querySelector("link[data-weft-editor-css]")) return
  // In this order: the element's chrome adjusts the editor's rules.
  for (const href of [editorCss, embedCss]) {
    const link = document.createElement("link")
    link.rel = "stylesheet"
    link.href = href
    link.setAttribute("data-weft-editor-css", "")
    document.head.append(link)
  }
}

export class WeftEditorElement extends HTMLElement {
  static observedAttributes = ["server", "document", "name"]

  #mounted: { id: string; server: string; destroy: () => void } | null = null
  #editor: DocumentEditor | null = null
  #status: Status | null = null
  #generation = 0

  get documentId(): string | null {
    return this.#mounted?.id ?? this.getAttribute("document")
  }
  get title(): string {
    return this.#editor?.title.value ?? ""
  }
  get text(): string {
    return this.#editor?.plainText() ?? ""
  }
  get status(): Status | null {
    return this.#status
  }

  connectedCallback() {
    void this.#mount()
  }

  disconnectedCallback() {
    this.#unmount()
  }

  attributeChangedCallback(name: string, oldValue: string | null, value: string | null) {
    if (!this.isConnected || oldValue === value) return
    if (name === "name") {
      this.#editor?.presence.setIdentity(this.#identity())
      return
    }
    // Setting `document` to the id we just created is not a change of document.
    if (name === "document" && value && this.#mounted?.id === value) return
    this.#unmount()
    void this.#mount()
  }

  #identity() {
    const me = identity()
    return { name: this.getAttribute("name")?.trim() || savedName() || "Guest", color: me.color }
  }

  #emit(type: string, detail: object) {
    this.dispatchEvent(new CustomEvent(type, { detail: { documentId: this.documentId, ...detail }, bubbles: true, composed: true }))
  }

  async #mount() {
    const generation = ++this.#generation
    injectStyles()
    const server = this.getAttribute("server") || new URL(".", SCRIPT_URL).href
    const status = h("span", { class: "weft-embed-status", "data-sync": "unsynced" }, "Connecting…")
    const people = h("span", { class: "weft-embed-people" })
    const openLink = h("a", { class: "weft-embed-open", target: "_blank", rel: "noopener" }, "Open in weft", svg(icons.external))
    const bar = h("div", { class: "weft-embed-bar" })
    const body = h("div", { class: "weft-embed-body" }, h("div", { class: "weft-embed-loading" }, h("div", { class: "progress" }, h("div", { class: "progress-fill indeterminate" })), "Opening document…"))
    const root = h("div", { class: "weft weft-embed" }, bar, body, h("div", { class: "weft-embed-foot" }, people, status, openLink))
    this.replaceChildren(root)

    let cleanup: (() => void)[] = []
    const destroy = () => {
      for (const c of cleanup) c()
      cleanup = []
    }

    try {
      const client = await clientFor(server)
      if (generation !== this.#generation) return
      let id = this.getAttribute("document")?.trim() || ""
      let handle: DocHandle<WeftDoc>
      if (!id) {
        handle = client.repo.create<WeftDoc>({ title: "", text: "" })
        id = handle.documentId
        this.#mounted = { id, server, destroy }
        this.setAttribute("document", id)
      } else {
        this.#mounted = { id, server, destroy }
        handle = await client.repo.find<WeftDoc>(id as DocumentId)
      }
      if (generation !== this.#generation) return
      openLink.href = new URL(`/d/${id}`, server).href

      const editor = new DocumentEditor({
        handle,
        identity: this.#identity(),
        placeholder: "Start writing…",
        onPeers: peers => people.replaceChildren(...peers.slice(0, 5).map(p => avatar(p.name, p.color, "avatar-sm"))),
        onChange: change => {
          tracker.schedule()
          this.#emit("change", change)
        },
      })
      this.#editor = editor
      cleanup.push(() => {
        editor.destroy()
        this.#editor = null
      })
      const tracker = new SyncTracker(client.repo, handle as DocHandle<unknown>, client.adapter, s => {
        this.#status = s
        status.dataset.sync = s.sync
        status.dataset.connection = s.connection
        status.dataset.local = s.local
        status.textContent = [s.connection === "connected" ? "" : s.connectionText, s.syncText, s.local === "failed" ? s.localText : ""].filter(Boolean).join(" · ")
        status.title = s.detail
        this.#emit("status", s)
      })
      cleanup.push(() => tracker.destroy())
      // Changes go to this browser's storage at once, and once more as the page goes away
      // (src/localsave.ts): a reload right after typing keeps them.
      const saver = new LocalSaver(client.repo, handle as DocHandle<unknown>, { onState: s => tracker.setLocal(s) })
      tracker.setLocal(saver.state)
      const flush = () => void saver.flushNow().catch(() => {})
      window.addEventListener("pagehide", flush)
      cleanup.push(() => {
        window.removeEventListener("pagehide", flush)
        saver.stop()
      })
      bar.append(editor.toolbar.el)
      body.replaceChildren(editor.el)
      this.#emit("ready", {})
    } catch (err) {
      if (generation !== this.#generation) return
      const message = /unavailable/i.test(String(err)) ? "This document does not exist on the server." : `Could not open the document: ${(err as Error).message ?? err}`
      body.replaceChildren(h("div", { class: "weft-embed-error", role: "alert" }, message))
      this.#emit("error", { message })
    }
  }

  #unmount() {
    this.#generation++
    this.#mounted?.destroy()
    this.#mounted = null
  }
}

if (!customElements.get("weft-editor")) customElements.define("weft-editor", WeftEditorElement)

declare global {
  interface HTMLElementTagNameMap {
    "weft-editor": WeftEditorElement
  }
}
