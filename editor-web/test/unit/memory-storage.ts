import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo"

/**
 * An in-memory storage adapter with the key semantics of the IndexedDB one. Every write (save,
 * remove, removeRange) first awaits {@link gate}, which subclasses override to hold writes back or
 * make them fail.
 */
export class MemoryStorage implements StorageAdapterInterface {
  data = new Map<string, { key: StorageKey; data: Uint8Array }>()

  protected async gate(): Promise<void> {}

  async load(key: StorageKey) {
    return this.data.get(JSON.stringify(key))?.data
  }
  async save(key: StorageKey, data: Uint8Array) {
    await this.gate()
    this.data.set(JSON.stringify(key), { key, data })
  }
  async remove(key: StorageKey) {
    await this.gate()
    this.data.delete(JSON.stringify(key))
  }
  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    return [...this.data.values()].filter(v => inRange(v.key, prefix)).map(v => ({ key: v.key, data: v.data }))
  }
  async removeRange(prefix: StorageKey) {
    await this.gate()
    for (const [k, v] of this.data) if (inRange(v.key, prefix)) this.data.delete(k)
  }
}

function inRange(key: StorageKey, prefix: StorageKey) {
  return prefix.every((p, i) => key[i] === p)
}
