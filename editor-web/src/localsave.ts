/**
 * Keeps one document's copy in this browser's storage (IndexedDB) up to date as soon as it
 * changes, and knows whether it is.
 *
 * automerge-repo saves a changed document itself, but late and without telling anyone: each
 * handle's "heads-changed" goes through an asyncThrottle that writes 100 ms after the first change
 * (each new change re-arms the timer), then waits for the IndexedDB transaction to commit. Under
 * CPU load those 100 ms become much more, and a reload or tab close in between loses the edit: an
 * IndexedDB transaction started while the page is being unloaded (pagehide, visibilitychange)
 * usually dies with the page. Nothing tells the page whether the last save has landed either.
 *
 * So this writes right after each change (`repo.flush`, one write at a time, changes made while a
 * write is in flight go in the next one), and reports {@link LocalState}: "saving" from a change
 * until a write that contains it has committed, "failed" when writing fails (retried with a
 * growing delay). Concurrent saves through the Repo's own throttled save are harmless: the storage
 * subsystem skips a save whose heads are already stored, and never deletes a chunk it did not
 * already write before it started compacting.
 */
import { next as A } from "@automerge/automerge/slim"
import type { DocHandle, DocumentId } from "@automerge/automerge-repo/slim"
import { sameHeads } from "./heads"

export type LocalState = "saved" | "saving" | "failed"

/** What the saver needs of a Repo (its `flush` writes the given documents to storage now). */
export interface Flusher {
  flush(documents?: DocumentId[]): Promise<void>
}

export interface LocalSaverOptions {
  /** Called when {@link LocalSaver.state} changes. */
  onState?: (state: LocalState, error?: unknown) => void
  /** Delays before retrying a failed write, in ms; the last one repeats. */
  retryDelays?: number[]
}

export class LocalSaver {
  #state: LocalState = "saving"
  #dirty = true // nothing is known to be stored yet: the first write is a check (a no-op when it is)
  #writing: Promise<void> | null = null
  #savedHeads: A.Heads | null = null
  /** The heads when this page opened the document: changes since are this page's to keep. */
  readonly #openedHeads: A.Heads | null
  #retry?: ReturnType<typeof setTimeout>
  #failures = 0
  #stopped = false
  #error: unknown
  readonly #onHeads: () => void
  readonly #onDelete: () => void
  readonly #retryDelays: number[]

  constructor(
    private readonly repo: Flusher,
    private readonly handle: DocHandle<unknown>,
    private readonly opts: LocalSaverOptions = {},
  ) {
    this.#retryDelays = opts.retryDelays ?? [500, 1000, 2000, 5000]
    this.#openedHeads = this.#heads()
    this.#onHeads = () => this.#changed()
    this.#onDelete = () => this.stop()
    handle.on("heads-changed", this.#onHeads)
    handle.on("delete", this.#onDelete)
    this.#kick()
  }

  get state(): LocalState {
    return this.#state
  }

  /** The last write error while {@link state} is "failed". */
  get error(): unknown {
    return this.#error
  }

  /** Heads of the document as last written completely (null before the first write). */
  get savedHeads(): A.Heads | null {
    return this.#savedHeads
  }

  /**
   * Whether this page holds changes made here (by this page's actor) that are not in storage yet,
   * i.e. that closing the page now could lose.
   */
  hasUnsavedLocalChanges(): boolean {
    if (this.#state === "saved") return false
    try {
      const since = this.#savedHeads ?? this.#openedHeads
      if (!since) return true
      const doc = this.handle.doc() as A.Doc<unknown>
      const me = A.getActorId(doc)
      return A.getChangesMetaSince(doc, since).some(c => c.actor === me)
    } catch {
      return true
    }
  }

  /**
   * Writes now, even while another write is in flight (for pagehide: the in-flight one may not
   * have reached the database yet). Resolves when everything is stored; rejects when writing fails.
   */
  flushNow(): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    if (this.#state === "saved" && !this.#dirty) return Promise.resolve()
    const heads = this.#heads()
    return this.repo.flush([this.handle.documentId]).then(() => {
      const now = this.#heads()
      if (heads && now && sameHeads(heads, now) && !this.#writing && !this.#retry) this.#done(heads)
    })
  }

  /** Stops writing (the page is being replaced, see src/discard.ts) and listening. */
  stop() {
    this.#stopped = true
    clearTimeout(this.#retry)
    this.handle.off("heads-changed", this.#onHeads)
    this.handle.off("delete", this.#onDelete)
  }

  #heads(): A.Heads | null {
    try {
      return A.getHeads(this.handle.doc() as A.Doc<unknown>)
    } catch {
      return null // not ready (or deleted)
    }
  }

  #changed() {
    if (this.#stopped) return
    this.#dirty = true
    this.#set("saving")
    this.#kick()
  }

  /** Starts the write loop unless it runs (or waits to retry). */
  #kick() {
    if (this.#writing || this.#retry || this.#stopped) return
    // A microtask: changes made in the same task (a paste, a ProseMirror transaction touching
    // title and text) go in one write, and the write starts before the task ends.
    this.#writing = Promise.resolve().then(() => this.#loop())
  }

  async #loop() {
    try {
      while (this.#dirty && !this.#stopped) {
        this.#dirty = false
        const heads = this.#heads()
        if (!heads) break // not ready (or deleted): nothing this page can change or write
        try {
          await this.repo.flush([this.handle.documentId])
        } catch (err) {
          this.#dirty = true
          this.#failed(err)
          return
        }
        this.#failures = 0
        this.#savedHeads = heads
      }
      if (!this.#dirty && !this.#stopped) this.#set("saved")
    } finally {
      this.#writing = null
    }
  }

  #done(heads: A.Heads) {
    this.#savedHeads = heads
    this.#dirty = false
    this.#failures = 0
    clearTimeout(this.#retry)
    this.#retry = undefined
    this.#set("saved")
  }

  #failed(err: unknown) {
    this.#error = err
    this.#set("failed", err)
    const delay = this.#retryDelays[Math.min(this.#failures, this.#retryDelays.length - 1)]
    this.#failures++
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      this.#kick()
    }, delay)
  }

  #set(state: LocalState, error?: unknown) {
    // Still failing: "saving" again only once a write succeeds.
    if (state === "saving" && this.#state === "failed") return
    if (state !== "failed") this.#error = undefined
    if (state === this.#state) return
    this.#state = state
    this.opts.onState?.(state, error)
  }
}
