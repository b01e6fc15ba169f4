import { next as A } from "@automerge/automerge"
import { Repo, type DocHandle, type StorageKey } from "@automerge/automerge-repo"
import { describe, expect, it } from "vitest"
import { loadStored } from "../../src/discard"
import { LocalSaver, type LocalState } from "../../src/localsave"
import { MemoryStorage } from "./memory-storage"

type D = { text: string }

/** In-memory storage whose writes can be held back (`hold()`) or made to fail (`failing`). */
class SlowStorage extends MemoryStorage {
  failing = false
  #held: (() => void)[] | null = null
  writes = 0

  /** How many writes are being held back. */
  get held() {
    return this.#held?.length ?? 0
  }
  hold() {
    this.#held = []
  }
  release() {
    const held = this.#held ?? []
    this.#held = null
    for (const go of held) go()
  }
  protected override async gate() {
    if (this.#held) await new Promise<void>(r => this.#held!.push(r))
    if (this.failing) throw new Error("QuotaExceededError")
  }
  override async save(key: StorageKey, data: Uint8Array) {
    await super.save(key, data)
    this.writes++
  }
}

async function setup() {
  const storage = new SlowStorage()
  // The Repo's own throttled save is pushed out of the way: whatever is stored, the saver stored.
  const repo = new Repo({ network: [], storage, saveDebounceRate: 60_000 })
  const handle = repo.create<D>({ text: "" })
  await handle.whenReady()
  const states: LocalState[] = []
  const saver = new LocalSaver(repo, handle as DocHandle<unknown>, { onState: s => states.push(s), retryDelays: [10] })
  await until(() => saver.state === "saved")
  return { storage, repo, handle, saver, states }
}

async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out")
    await new Promise(r => setTimeout(r, 1))
  }
}

const stored = async (storage: SlowStorage, handle: DocHandle<D>) => (await loadStored<D>(storage, handle.documentId))?.text

describe("LocalSaver", () => {
  it("stores a change at once, not when the Repo's throttled save gets to it", async () => {
    const { storage, handle, saver, states } = await setup()
    handle.change(d => A.splice(d, ["text"], 0, 0, "typed"))
    expect(saver.state).toBe("saving")
    await until(() => saver.state === "saved", 200)
    expect(await stored(storage, handle)).toBe("typed")
    expect(states.slice(-2)).toEqual(["saving", "saved"])
  })

  it("says 'saving' and counts the edit as unstored until the write has completed", async () => {
    const { storage, handle, saver } = await setup()
    storage.hold()
    handle.change(d => A.splice(d, ["text"], 0, 0, "held"))
    await new Promise(r => setTimeout(r, 20))
    expect(saver.state).toBe("saving")
    expect(saver.hasUnsavedLocalChanges()).toBe(true)
    expect(await stored(storage, handle)).toBe("")
    storage.release()
    await until(() => saver.state === "saved")
    expect(saver.hasUnsavedLocalChanges()).toBe(false)
    expect(await stored(storage, handle)).toBe("held")
  })

  it("writes changes made during a write in the next one", async () => {
    const { storage, handle, saver } = await setup()
    storage.hold()
    handle.change(d => A.splice(d, ["text"], 0, 0, "one"))
    await new Promise(r => setTimeout(r, 5))
    handle.change(d => A.splice(d, ["text"], 3, 0, " two"))
    handle.change(d => A.splice(d, ["text"], 7, 0, " three"))
    storage.release()
    await until(() => saver.state === "saved")
    expect(await stored(storage, handle)).toBe("one two three")
  })

  it("does not count someone else's changes as this page's unstored edits", async () => {
    const { storage, handle, saver } = await setup()
    storage.hold()
    const theirs = A.change(A.clone(handle.doc() as A.Doc<D>, { actor: "cccc" }), d => A.splice(d, ["text"], 0, 0, "theirs"))
    handle.update(d => A.merge(d, theirs))
    await new Promise(r => setTimeout(r, 5))
    expect(saver.state).toBe("saving")
    expect(saver.hasUnsavedLocalChanges()).toBe(false)
    handle.change(d => A.splice(d, ["text"], 0, 0, "mine "))
    expect(saver.hasUnsavedLocalChanges()).toBe(true)
    storage.release()
    await until(() => saver.state === "saved")
    expect(await stored(storage, handle)).toBe("mine theirs")
  })

  it("reports a failing write, retries, and recovers", async () => {
    const { storage, handle, saver, states } = await setup()
    storage.failing = true
    handle.change(d => A.splice(d, ["text"], 0, 0, "quota"))
    await until(() => saver.state === "failed")
    expect(String(saver.error)).toMatch(/Quota/)
    expect(saver.hasUnsavedLocalChanges()).toBe(true)
    handle.change(d => A.splice(d, ["text"], 5, 0, "!"))
    expect(saver.state).toBe("failed") // not "saving" again until a write succeeds
    storage.failing = false
    await until(() => saver.state === "saved")
    expect(await stored(storage, handle)).toBe("quota!")
    expect(states).toContain("failed")
  })

  it("flushNow writes even while a write is under way", async () => {
    const { storage, handle, saver } = await setup()
    storage.hold()
    handle.change(d => A.splice(d, ["text"], 0, 0, "a"))
    await until(() => storage.held === 1) // the saver's own write is under way
    const flushed = saver.flushNow()
    await until(() => storage.held === 2) // flushNow started another write instead of waiting for it
    storage.release()
    await flushed
    expect(await stored(storage, handle)).toBe("a")
  })

  it("stop() stops writing", async () => {
    const { storage, handle, saver } = await setup()
    saver.stop()
    const before = storage.writes
    handle.change(d => A.splice(d, ["text"], 0, 0, "after stop"))
    await new Promise(r => setTimeout(r, 30))
    expect(storage.writes).toBe(before)
  })
})
