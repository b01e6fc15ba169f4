import { next as A } from "@automerge/automerge/slim"
import type { DocHandle } from "@automerge/automerge-repo/slim"
import type { Api } from "../api"
import { askName, refreshNameChips } from "../chrome"
import { DocumentEditor, type WeftDoc } from "../editor/editor"
import { Authors } from "../history/authors"
import { HistoryPanel } from "../history/panel"
import { identity, saveName, savedName } from "../identity"
import { Teardown, type Page } from "../page"
import { rememberDoc } from "../recent"
import type { Client } from "../repo"
import { SyncTracker } from "../sync"
import type { Access } from "./access"
import { DiscardControl } from "./discarding"
import type { DocFrame } from "./frame"
import type { LoadingScreen } from "./loading"
import { ReadOnlyMode } from "./readonly"
import { SaveGuard } from "./saveguard"

export interface ViewOptions {
  id: string
  api: Api
  access: Access
  client: Client
  handle: DocHandle<WeftDoc>
  frame: DocFrame
  /** Replaced by the editor. */
  loading: LoadingScreen
}

/**
 * An open document: the editor and everything around it (status, storing here, read-only mode,
 * history, people), each a part with its own teardown.
 */
export class DocumentView implements Page {
  readonly #o: ViewOptions
  readonly #t = new Teardown()
  readonly #authors: Authors
  readonly #editor: DocumentEditor
  readonly #tracker: SyncTracker
  readonly #guard: SaveGuard

  constructor(opts: ViewOptions) {
    this.#o = opts
    const t0 = performance.now()
    const { id, handle, frame, client } = opts
    const { repo, adapter } = client
    const t = this.#t
    this.#authors = new Authors(id)
    this.#editor = new DocumentEditor({
      handle,
      identity: identity(),
      onPeers: peers => {
        for (const p of peers) if (p.actor) this.#authors.learn(p.actor, p.name, p.color)
        frame.renderPeers(peers)
      },
      onChange: change => {
        this.#setTitle(change.title)
        this.#tracker.schedule()
      },
    })
    t.add(() => this.#editor.destroy())
    this.#tracker = new SyncTracker(repo, handle as DocHandle<unknown>, adapter, s => frame.status.update(s, () => adapter.retryNow()))
    t.add(() => this.#tracker.destroy())
    const unsynced = () => this.#tracker.status.sync === "unsynced"
    this.#guard = t.own(new SaveGuard(repo, handle as DocHandle<unknown>, s => this.#tracker.setLocal(s), unsynced))
    this.#tracker.setLocal(this.#guard.saver.state)

    this.#setTitle(handle.doc().title ?? "")
    this.#learnMe()
    frame.onRename = () => this.#renamed()
    frame.renderPeers([])
    this.#mountPanels()
    frame.showOpened()
    this.#editor.focus()
    performance.measure("weft:editor-build", { start: t0 })
    performance.mark("weft:editor-ready")
    void this.#settleName()
  }

  unmount() {
    this.#t.unmount()
  }

  /** Discard, history and read-only mode; then the editor takes the loading screen's place. */
  #mountPanels() {
    const { id, api, access, client, handle, frame, loading } = this.#o
    const t = this.#t
    const editor = this.#editor
    t.own(new DiscardControl(id, frame.discardBtn, () => this.#guard.leave()))
    const history = new HistoryPanel({
      docId: id,
      api,
      handle,
      authors: this.#authors,
      toolbarRow: frame.toolbarRow,
      liveToolbar: editor.toolbar.el,
      liveEl: editor.el,
      main: frame.main,
      onPreviewChange: previewing => {
        frame.page.classList.toggle("is-previewing", previewing)
        if (!previewing) frame.toolbarRow.hidden = editor.readOnly
      },
    })
    t.add(() => history.destroy())
    frame.historySlot.append(history.button)
    frame.page.append(history.el)
    const { page, toolbarRow, discardBtn, readOnlyBadge: badge } = frame
    const readOnly = t.own(new ReadOnlyMode({ id, editor, history, adapter: client.adapter, badge, page, toolbarRow, discardBtn }))

    loading.remove()
    toolbarRow.append(editor.toolbar.el)
    toolbarRow.hidden = false
    frame.main.append(editor.el)
    // Start read-only when that is what we know (role answered, or remembered); writable otherwise.
    readOnly.applyRole(access.me, access.role)
    void access.ready.then(m => {
      if (!t.done && m) readOnly.applyRole(m, m.role)
    })
  }

  #setTitle(title: string) {
    if (this.#o.frame.setTitle(title)) rememberDoc(this.#o.id, title.trim())
  }

  /** Tells the history who this tab's actor is. */
  #learnMe() {
    const mine = identity()
    try {
      this.#authors.learn(A.getActorId(this.#o.handle.doc() as A.Doc<unknown>), mine.name, mine.color, true)
    } catch {
      // no document yet
    }
  }

  #renamed() {
    this.#editor.presence.setIdentity(identity())
    this.#learnMe()
  }

  /** A signed-in user's name (from the token) is the default display name; else ask for one. */
  async #settleName() {
    const signedIn = await this.#o.access.within(1500)
    if (!savedName() && signedIn?.name && !this.#t.done) {
      saveName(signedIn.name)
      refreshNameChips()
      this.#renamed()
    }
    if (!savedName()) {
      const name = await askName()
      if (name && !this.#t.done) this.#renamed()
      this.#editor.focus()
    }
  }
}
