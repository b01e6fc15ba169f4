import type { DocHandle, DocumentId } from "@automerge/automerge-repo/slim"
import type { Api } from "../api"
import { discardRequested } from "../discard"
import type { WeftDoc } from "../editor/editor"
import { Teardown, type Page } from "../page"
import type { Client } from "../repo"
import type { Access } from "./access"
import { replaceWithServerCopy } from "./discarding"
import type { LoadingScreen } from "./loading"
import { discardFailedCard, errorCard, noAccessCard, notFoundCard, offlineCard } from "./messages"

export interface LoaderOptions {
  id: string
  api: Api
  access: Access
  client: () => Promise<Client>
  main: HTMLElement
  loading: LoadingScreen
  /** Called once, when the document is here and the editor can be built. */
  onReady: (client: Client, handle: DocHandle<WeftDoc>) => void
}

/**
 * Finds the document (this device, then the server) while the loading screen says how far it
 * got; says so when it cannot be had (no access, not found, offline, an error), and opens it if
 * it arrives later after all.
 */
export class DocLoader implements Page {
  readonly #o: LoaderOptions
  readonly #t = new Teardown()
  #opened = false

  constructor(opts: LoaderOptions) {
    this.#o = opts
    this.#start().catch(err => this.#showError(String(err?.message ?? err)))
  }

  get #stopped(): boolean {
    return this.#t.done
  }

  unmount() {
    this.#t.unmount()
  }

  async #start() {
    const { id, loading } = this.#o
    const teardown = this.#t
    // "Discard my changes" reloaded the page: replace the stored copy with the server's before
    // the Repo opens the document (see src/discard.ts).
    if (discardRequested(id) && !(await this.#finishDiscard())) return
    const client = await this.#o.client()
    if (this.#stopped) return
    const { repo, adapter } = client
    adapter.onLargeMessage = bytes => {
      performance.mark("weft:large-message", { detail: bytes })
      loading.setStage(`Received ${formatBytes(bytes)} from the server. Opening…`, 85)
    }
    teardown.add(() => (adapter.onLargeMessage = undefined))

    const progress = repo.findWithProgress<WeftDoc>(id as DocumentId)
    const onProgress = (p: typeof progress) => {
      if (this.#stopped) return
      switch (p.state) {
        case "loading":
          if (p.progress <= 25) loading.setStage("Looking for it on this device…", 25)
          else if (p.progress <= 50) loading.setStage("Found on this device. Opening…", 60)
          else loading.setStage(adapter.info.state === "connected" ? "Asking the server…" : "Connecting to the server…", null)
          break
        case "ready":
          void this.#open(client, p.handle)
          break
        case "unavailable":
          this.#unavailable(client, p.handle)
          break
        case "failed":
        case "aborted":
          this.#showError(p.state === "failed" ? p.error.message : "Loading was cancelled.")
          break
      }
    }
    onProgress(progress)
    if ("subscribe" in progress) {
      const unsub = progress.subscribe(onProgress)
      teardown.add(() => unsub())
    }
  }

  async #open(client: Client, handle: DocHandle<WeftDoc>) {
    if (this.#opened || this.#stopped) return
    this.#opened = true
    performance.mark("weft:doc-ready")
    this.#o.loading.setStage("Preparing the editor…", 95)
    await nextPaint()
    if (this.#stopped) return
    this.#o.onReady(client, handle)
  }

  /** The second half of "Discard my changes"; true when done, else says why and keeps the request. */
  async #finishDiscard(): Promise<boolean> {
    const { api, id, loading, main } = this.#o
    loading.setStage("Discarding your changes: loading the server's copy…", 20)
    const failed = await replaceWithServerCopy(api, id, () => this.#stopped)
    if (!failed) return true
    if (this.#stopped) return false
    document.title = "Discarding changes · weft"
    loading.remove()
    main.append(discardFailedCard(failed.error))
    return false
  }

  #unavailable(client: Client, handle: DocHandle<WeftDoc>) {
    // "No access" reads better than "not found" when that is the reason: wait briefly for the role.
    if (this.#o.access.me === null) {
      void this.#o.access.within(1500).then(() => {
        if (!this.#opened && !this.#stopped && handle.state === "unavailable") this.#showUnavailable(client, handle)
      })
      return
    }
    this.#showUnavailable(client, handle)
  }

  #showUnavailable(client: Client, handle: DocHandle<WeftDoc>) {
    const { access, loading, main } = this.#o
    const connected = client.adapter.info.state === "connected"
    const me = access.me
    loading.remove()
    main.querySelector(".message-card")?.remove()
    if (me?.role === "none" && me.auth === "jwt") {
      document.title = "No access · weft"
      main.append(noAccessCard(me))
      return
    }
    document.title = connected ? "Document not found · weft" : "Offline · weft"
    main.append(connected ? notFoundCard() : offlineCard())
    // It can still arrive: when we reconnect, the Repo asks the server again.
    void handle.whenReady(["ready"]).then(() => {
      if (this.#stopped) return
      main.querySelector(".message-card")?.remove()
      main.append(loading.el)
      void this.#open(client, handle)
    })
    if (!connected) this.#retryOnReconnect(client, handle)
  }

  #retryOnReconnect(client: Client, handle: DocHandle<WeftDoc>) {
    const unsub = client.adapter.subscribe(info => {
      if (info.state === "connected" && !this.#opened) {
        // Give the server a moment to answer the renewed request before saying "not found".
        setTimeout(() => {
          if (!this.#opened && !this.#stopped && handle.state === "unavailable") this.#showUnavailable(client, handle)
        }, 3000)
        unsub()
      }
    })
    this.#t.add(unsub)
  }

  #showError(message: string) {
    this.#o.loading.remove()
    this.#o.main.append(errorCard(message))
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

function nextPaint(): Promise<void> {
  return new Promise(resolve => {
    if (document.hidden) setTimeout(resolve, 0)
    else requestAnimationFrame(() => setTimeout(resolve, 0))
  })
}
