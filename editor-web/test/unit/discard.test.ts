import { next as A } from "@automerge/automerge"
import { describe, expect, it } from "vitest"
import { loadStored, replaceStoredCopy } from "../../src/discard"
import { MemoryStorage } from "./memory-storage"

describe("discarding refused changes", () => {
  const id = "4NMNnkMhL8jXrdJ9jamS58PAVdXu"

  async function setup() {
    const server = A.change(A.init<{ text: string }>(), d => {
      d.text = "Only Ada writes here."
    })
    // This browser's copy: the server's, plus a change the server refused, stored the way the Repo
    // stores it (a snapshot, an incremental chunk, a sync state).
    const mine = A.change(A.clone(server), d => {
      A.splice(d, ["text"], 21, 0, " Rita tries.")
    })
    const storage = new MemoryStorage()
    await storage.save([id, "snapshot", "a"], A.save(server))
    await storage.save([id, "incremental", "b"], A.saveSince(mine, A.getHeads(server)))
    await storage.save([id, "sync-state", "server-storage"], new Uint8Array([1, 2, 3]))
    await storage.save(["otherdoc", "snapshot", "c"], A.save(mine))
    return { server, mine, storage }
  }

  it("leaves exactly the server's copy, and nothing of other documents is touched", async () => {
    const { server, storage } = await setup()
    expect((await loadStored<{ text: string }>(storage, id))!.text).toBe("Only Ada writes here. Rita tries.")
    const heads = await replaceStoredCopy(storage, id, A.save(server), A.getHeads(server))
    expect(heads).toEqual(A.getHeads(server))
    const stored = (await loadStored<{ text: string }>(storage, id))!
    expect(stored.text).toBe("Only Ada writes here.")
    expect(A.getHeads(stored)).toEqual(A.getHeads(server))
    expect(await storage.loadRange([id, "incremental"])).toEqual([])
    expect(await storage.loadRange([id, "sync-state"])).toEqual([])
    expect(await storage.loadRange(["otherdoc"])).toHaveLength(1)
  })

  it("refuses a server copy that does not match the heads the server announced", async () => {
    const { server, mine, storage } = await setup()
    await expect(replaceStoredCopy(storage, id, A.save(server), A.getHeads(mine))).rejects.toThrow(/heads/)
    // Nothing was removed.
    expect((await loadStored<{ text: string }>(storage, id))!.text).toBe("Only Ada writes here. Rita tries.")
  })

  it("fails when the stored copy is not the server's after writing (something wrote it back)", async () => {
    const { server, mine, storage } = await setup()
    const racing = new MemoryStorage()
    racing.data = storage.data
    // A writer that slips the refused change back in right after the snapshot is saved.
    racing.save = async (key, data) => {
      await MemoryStorage.prototype.save.call(racing, key, data)
      if (key[1] === "snapshot") await MemoryStorage.prototype.save.call(racing, [id, "incremental", "late"], A.saveSince(mine, A.getHeads(server)))
    }
    await expect(replaceStoredCopy(racing, id, A.save(server))).rejects.toThrow(/stored copy/)
  })
})
