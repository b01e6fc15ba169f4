import { ApiError, type Api } from "../api"
import { confirmDialog } from "../dialog"
import { clearDiscard, onDiscardElsewhere, replaceStoredCopy, requestDiscard } from "../discard"
import { toast } from "../dom"
import type { Page } from "../page"
import { loadAutomerge, openStorage } from "../repo"

/**
 * Replaces this browser's stored copy with the server's (the second half of "Discard my
 * changes", after the reload), checked against the server's heads. Retries a few times, not when
 * offline. Resolves with null when done, else with the last error (undefined when stopped).
 */
export async function replaceWithServerCopy(api: Api, id: string, stopped: () => boolean): Promise<{ error: unknown } | null> {
  let lastError: unknown
  for (let attempt = 0; attempt < 3 && !stopped(); attempt++) {
    const storage = openStorage()
    try {
      await loadAutomerge()
      const { bytes, heads } = await api.binary(id)
      await replaceStoredCopy(storage, id, bytes, heads)
      clearDiscard(id)
      return null
    } catch (err) {
      lastError = err
      if (err instanceof ApiError && err.status === 0) break // offline: retrying now will not help
    } finally {
      storage.close()
    }
  }
  return { error: lastError }
}

/**
 * "Discard my changes" (the first half): asks, then reloads with a request to replace the stored
 * copy; also reloads when another tab discarded its copy of this document.
 */
export class DiscardControl implements Page {
  #discarding = false
  readonly #unsub: () => void

  /** `leave` stops everything that would still write this document or ask before unloading. */
  constructor(
    private readonly id: string,
    button: HTMLElement,
    private readonly leave: () => void,
  ) {
    button.addEventListener("click", () => void this.#ask())
    // Another tab discarded its copy: this one holds the same refused changes, and would give them
    // back to it through the tab channel. Reload without saving.
    this.#unsub = onDiscardElsewhere(id, () => {
      if (this.#discarding) return // our own request (a channel also reaches other listeners in this page)
      this.#discarding = true
      this.leave()
      location.reload()
    })
  }

  unmount() {
    this.#unsub()
  }

  async #ask() {
    const ok = await confirmDialog(
      "Discard your changes?",
      "The changes made in this browser were refused by the server and will never be saved. Discarding them removes this browser's copy of the document and loads it again from the server.",
      "Discard and reload",
    )
    if (!ok) return
    // This page's Repo has the document open and may still write it to storage (a pending save,
    // a flush on pagehide, a message that reopens it), so the copy is replaced by the next page
    // before anything opens it there. Other tabs with the document open reload too.
    this.#discarding = true
    if (!requestDiscard(this.id)) {
      this.#discarding = false
      toast("This browser does not allow saving data for this site, so its copy cannot be replaced. Close every tab of this document to drop it.")
      return
    }
    this.leave()
    location.reload()
  }
}
