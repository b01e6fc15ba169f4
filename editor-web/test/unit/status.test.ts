import * as A from "@automerge/automerge"
import { describe, expect, it } from "vitest"
import { sameHeads } from "../../src/heads"
import { computeStatus, serverHasLocalChanges } from "../../src/status"

type D = { title: string; text: string }

function base() {
  return A.from<D>({ title: "", text: "" }, { actor: "aaaa" })
}

describe("serverHasLocalChanges", () => {
  it("is false before the server said anything", () => {
    expect(serverHasLocalChanges(base(), undefined)).toBe(false)
  })

  it("is true when the server's heads are ours", () => {
    const doc = base()
    expect(serverHasLocalChanges(doc, A.getHeads(doc))).toBe(true)
  })

  it("is false while a local change has not been acknowledged", () => {
    const doc = base()
    const acked = A.getHeads(doc)
    const edited = A.change(doc, d => A.splice(d, ["text"], 0, 0, "hello"))
    expect(serverHasLocalChanges(edited, acked)).toBe(false)
  })

  it("is true when the server is ahead of us with changes we already merged", () => {
    const server = base()
    const mine = A.change(A.clone(server, { actor: "bbbb" }), d => A.splice(d, ["text"], 0, 0, "mine"))
    const theirs = A.change(A.clone(server, { actor: "cccc" }), d => A.splice(d, ["title"], 0, 0, "theirs"))
    // The server merged both; so did we.
    const serverDoc = A.merge(A.clone(theirs), mine)
    const local = A.merge(mine, theirs)
    expect(sameHeads(A.getHeads(local), A.getHeads(serverDoc))).toBe(true)
    // The server then gains one more change from someone else and we have it too.
    const later = A.change(A.clone(serverDoc, { actor: "dddd" }), d => A.splice(d, ["text"], 0, 0, "x"))
    const localLater = A.merge(local, later)
    expect(serverHasLocalChanges(localLater, A.getHeads(later))).toBe(true)
  })

  it("is false when the server has heads we do not know and we have unacknowledged work", () => {
    const server = base()
    const other = A.change(A.clone(server, { actor: "cccc" }), d => A.splice(d, ["title"], 0, 0, "t"))
    const mine = A.change(A.clone(server, { actor: "bbbb" }), d => A.splice(d, ["text"], 0, 0, "m"))
    expect(serverHasLocalChanges(mine, A.getHeads(other))).toBe(false)
  })

  it("is false for concurrent heads the server only partly has", () => {
    const root = base()
    const a = A.change(A.clone(root, { actor: "bbbb" }), d => A.splice(d, ["text"], 0, 0, "a"))
    const b = A.change(A.clone(root, { actor: "cccc" }), d => A.splice(d, ["title"], 0, 0, "b"))
    const local = A.merge(A.clone(a), b)
    expect(serverHasLocalChanges(local, A.getHeads(a))).toBe(false)
    expect(serverHasLocalChanges(local, [...A.getHeads(a), ...A.getHeads(b)])).toBe(true)
  })
})

describe("computeStatus", () => {
  const now = 1_000_000
  it("says saved only when the server has everything", () => {
    expect(computeStatus({ connection: { state: "connected" }, savedOnServer: true, now })).toMatchObject({
      connection: "connected",
      sync: "saved",
      syncText: "Saved to server",
      connectionText: "Connected",
    })
    expect(computeStatus({ connection: { state: "connected" }, savedOnServer: false, now })).toMatchObject({
      sync: "unsynced",
      syncText: "Unsynced changes",
    })
  })

  it("keeps 'saved' true while offline if the server already had everything", () => {
    const s = computeStatus({ connection: { state: "offline" }, savedOnServer: true, now })
    expect(s).toMatchObject({ connection: "offline", connectionText: "Offline", syncText: "Saved to server" })
  })

  it("counts down to the next reconnect attempt", () => {
    expect(computeStatus({ connection: { state: "reconnecting", nextRetryAt: now + 4_200 }, savedOnServer: false, now }).connectionText).toBe(
      "Reconnecting in 5 s",
    )
    expect(computeStatus({ connection: { state: "reconnecting", nextRetryAt: now - 10 }, savedOnServer: false, now }).connectionText).toBe(
      "Reconnecting…",
    )
  })

  it("explains a refused connection", () => {
    const s = computeStatus({ connection: { state: "refused", reason: "bad token" }, savedOnServer: false, now })
    expect(s.connectionText).toBe("Disconnected")
    expect(s.detail).toContain("bad token")
  })

  it("has a label for every state", () => {
    for (const state of ["connecting", "connected", "reconnecting", "offline", "refused"] as const) {
      const s = computeStatus({ connection: { state }, savedOnServer: false, now })
      expect(s.connectionText.length).toBeGreaterThan(0)
      expect(s.detail.length).toBeGreaterThan(0)
    }
  })

  it("tells whether the edits are stored in this browser", () => {
    const off = { state: "offline" } as const
    expect(computeStatus({ connection: off, savedOnServer: false, now })).toMatchObject({ local: "saved", localText: "" })
    const saving = computeStatus({ connection: off, savedOnServer: false, local: "saving", now })
    expect(saving).toMatchObject({ local: "saving", localText: "Saving on this device…" })
    expect(saving.detail).toMatch(/Storing your latest changes in this browser/)
    const failed = computeStatus({ connection: off, savedOnServer: false, local: "failed", now })
    expect(failed).toMatchObject({ local: "failed", localText: "Not saved on this device", syncText: "Unsynced changes" })
    expect(failed.detail).toMatch(/keep this page open/)
    expect(computeStatus({ connection: { state: "connected" }, savedOnServer: true, local: "failed", now }).detail).toMatch(/they are on the server/)
  })
})
