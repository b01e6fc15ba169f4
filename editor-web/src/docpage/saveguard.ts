import type { DocHandle, Repo } from "@automerge/automerge-repo/slim"
import { LocalSaver, type LocalState } from "../localsave"
import type { Page } from "../page"

/**
 * Keeps what is typed here from being lost when the page goes away. Every change goes to this
 * browser's storage at once, not 100 ms later (src/localsave.ts), so a reload or a closed tab right
 * after typing keeps it, online or not; leaving while a change is not stored or not on the server
 * asks first.
 */
export class SaveGuard implements Page {
  readonly saver: LocalSaver
  #leaving = false
  readonly #isUnsynced: () => boolean
  readonly #beforeUnload = (e: BeforeUnloadEvent) => this.#warn(e)
  readonly #flush = (e: Event) => this.#flushOnHide(e)

  constructor(repo: Repo, handle: DocHandle<unknown>, onState: (s: LocalState) => void, isUnsynced: () => boolean) {
    this.saver = new LocalSaver(repo, handle, { onState })
    this.#isUnsynced = isUnsynced
    window.addEventListener("beforeunload", this.#beforeUnload)
    document.addEventListener("visibilitychange", this.#flush)
    window.addEventListener("pagehide", this.#flush)
  }

  /** The page reloads to drop this browser's copy (src/discard.ts): write nothing more, ask nothing. */
  leave() {
    this.#leaving = true
    this.saver.stop()
  }

  unmount() {
    window.removeEventListener("beforeunload", this.#beforeUnload)
    document.removeEventListener("visibilitychange", this.#flush)
    window.removeEventListener("pagehide", this.#flush)
    void this.saver.flushNow().catch(() => {}) // leaving for another page of the app
    this.saver.stop()
  }

  // Warn before leaving while changes made here are not on the server, or not even stored in
  // this browser yet (a write still under way, or failing): leaving then loses them.
  #warn(e: BeforeUnloadEvent) {
    if (this.#leaving) return
    const unstored = this.saver.hasUnsavedLocalChanges()
    if (unstored) void this.saver.flushNow().catch(() => {})
    if (this.#isUnsynced() || unstored) {
      e.preventDefault()
      e.returnValue = "" // older browsers need a value to show the prompt
    }
  }

  // Normally everything is stored already. When a write is still pending as the page is hidden
  // or goes away, start one more now: its transaction commits at once (src/idb.ts), so it
  // completes even if the page does not. (pagehide comes before the page is "hidden".)
  #flushOnHide(e: Event) {
    if (this.#leaving) return
    if (e.type === "pagehide" || document.visibilityState === "hidden") void this.saver.flushNow().catch(() => {})
  }
}
