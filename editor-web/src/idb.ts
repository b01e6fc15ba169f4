/**
 * automerge-repo storage in IndexedDB: the database layout of
 * @automerge/automerge-repo-storage-indexeddb (database `<name>`, object store `documents`, records
 * `{ key, binary }` under the key array), so documents stored by either open with the other, with
 * two differences that matter when a page goes away right after an edit:
 *
 * - Writing transactions are committed explicitly (`IDBTransaction.commit()`) right after their
 *   request. Otherwise the browser commits only once the page has seen the request succeed, a
 *   round trip that a page being unloaded (reload, tab close) does not live through, and the write
 *   is lost. Committed, the write completes in the browser even when the page is gone.
 * - A transaction that is aborted without an error (the connection closed under it) rejects,
 *   instead of leaving the save pending forever (automerge-repo waits for each save to settle
 *   before the next one, so one hung save stops all later saves of the document).
 */
import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo/slim"

export class IndexedDBStorage implements StorageAdapterInterface {
  readonly dbPromise: Promise<IDBDatabase>

  constructor(
    private readonly database = "automerge",
    private readonly store = "documents",
  ) {
    this.dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(this.database, 1)
      request.onerror = () => reject(request.error)
      request.onupgradeneeded = () => request.result.createObjectStore(this.store)
      request.onsuccess = () => resolve(request.result)
    })
  }

  /** Closes the connection (for a storage no Repo uses). */
  close(): void {
    void this.dbPromise.then(d => d.close()).catch(() => {})
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const db = await this.dbPromise
    const tx = db.transaction(this.store, "readonly")
    const request = tx.objectStore(this.store).get(key)
    await done(tx)
    const r = request.result as { binary?: Uint8Array } | undefined
    return r && typeof r === "object" && "binary" in r ? r.binary : undefined
  }

  async save(key: StorageKey, binary: Uint8Array): Promise<void> {
    const db = await this.dbPromise
    const tx = db.transaction(this.store, "readwrite")
    tx.objectStore(this.store).put({ key, binary }, key)
    commit(tx)
    await done(tx)
  }

  async remove(key: StorageKey): Promise<void> {
    const db = await this.dbPromise
    const tx = db.transaction(this.store, "readwrite")
    tx.objectStore(this.store).delete(key)
    commit(tx)
    await done(tx)
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const db = await this.dbPromise
    const tx = db.transaction(this.store, "readonly")
    const result: Chunk[] = []
    const request = tx.objectStore(this.store).openCursor(range(prefix))
    request.onsuccess = () => {
      const cursor = request.result
      if (!cursor) return
      result.push({ key: cursor.key as StorageKey, data: (cursor.value as { binary: Uint8Array }).binary })
      cursor.continue()
    }
    await done(tx)
    return result
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    const db = await this.dbPromise
    const tx = db.transaction(this.store, "readwrite")
    tx.objectStore(this.store).delete(range(prefix))
    commit(tx)
    await done(tx)
  }
}

function range(prefix: StorageKey): IDBKeyRange {
  return IDBKeyRange.bound(prefix, [...prefix, "\uffff"])
}

/** Asks the browser to commit now (where supported; elsewhere it commits by itself). */
function commit(tx: IDBTransaction) {
  try {
    tx.commit?.()
  } catch {
    // already committing
  }
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"))
    tx.onabort = () => reject(tx.error ?? new DOMException("IndexedDB transaction aborted", "AbortError"))
  })
}
