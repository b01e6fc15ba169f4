import { describe, expect, it } from "vitest"
import { PresenceState, isPresenceMessage, type PresenceMessage } from "../../src/presence/state"

const state = (id: string, seq: number, name = id, cursor: { anchor: string; head: string } | null = null): PresenceMessage => ({
  weft: "presence",
  type: "state",
  id,
  seq,
  name,
  color: "#30a46c",
  cursor,
})
const bye = (id: string, seq: number): PresenceMessage => ({ weft: "presence", type: "bye", id, seq })

describe("PresenceState", () => {
  it("joins, updates and leaves", () => {
    const p = new PresenceState("me", 10_000)
    expect(p.apply(state("ada", 1, "Ada"), 0)).toBe("join")
    expect(p.apply(state("ada", 2, "Ada", { anchor: "1@a", head: "3@a" }), 100)).toBe("update")
    expect(p.get("ada")).toMatchObject({ name: "Ada", cursor: { anchor: "1@a", head: "3@a" }, lastSeen: 100 })
    expect(p.apply(bye("ada", 3), 200)).toBe("leave")
    expect(p.peers()).toEqual([])
  })

  it("ignores our own messages", () => {
    const p = new PresenceState("me")
    expect(p.apply(state("me", 1), 0)).toBeNull()
    expect(p.size).toBe(0)
  })

  it("drops duplicates and stale messages (two delivery paths)", () => {
    const p = new PresenceState("me")
    p.apply(state("ada", 5, "Ada v5"), 0)
    expect(p.apply(state("ada", 5, "Ada dup"), 1)).toBeNull()
    expect(p.apply(state("ada", 4, "Ada old"), 2)).toBeNull()
    expect(p.get("ada")?.name).toBe("Ada v5")
  })

  it("does not let a late message bring back someone who left", () => {
    const p = new PresenceState("me")
    p.apply(state("ada", 1), 0)
    p.apply(bye("ada", 3), 10)
    expect(p.apply(state("ada", 2), 20)).toBeNull()
    expect(p.size).toBe(0)
    // ...but a genuinely new message (higher seq) does.
    expect(p.apply(state("ada", 4), 30)).toBe("join")
  })

  it("expires people not heard from within the TTL", () => {
    const p = new PresenceState("me", 10_000)
    p.apply(state("ada", 1), 0)
    p.apply(state("bob", 1), 5_000)
    expect(p.expire(9_999)).toEqual([])
    expect(p.expire(10_001)).toEqual(["ada"])
    expect(p.peers().map(x => x.id)).toEqual(["bob"])
    // A heartbeat keeps bob.
    p.apply(state("bob", 2), 14_000)
    expect(p.expire(20_000)).toEqual([])
    expect(p.expire(24_001)).toEqual(["bob"])
  })

  it("forgets sequence numbers of long-gone senders, but not too soon", () => {
    const p = new PresenceState("me", 1_000)
    p.apply(state("ada", 9), 0)
    p.expire(2_000)
    expect(p.apply(state("ada", 3), 2_500)).toBeNull() // still remembered
    p.expire(10_000)
    expect(p.apply(state("ada", 3), 10_000)).toBe("join")
  })

  it("lists people by name, then id", () => {
    const p = new PresenceState("me")
    p.apply(state("2", 1, "bob"), 0)
    p.apply(state("1", 1, "Ada"), 0)
    p.apply(state("0", 1, "bob"), 0)
    expect(p.peers().map(x => x.id)).toEqual(["1", "0", "2"])
  })

  it("caps long names and fills empty ones", () => {
    const p = new PresenceState("me")
    p.apply(state("a", 1, "x".repeat(500)), 0)
    p.apply(state("b", 1, ""), 0)
    expect(p.get("a")?.name.length).toBe(60)
    expect(p.get("b")?.name).toBe("Anonymous")
  })

  it("clear() forgets everyone", () => {
    const p = new PresenceState("me")
    p.apply(state("a", 1), 0)
    expect(p.clear()).toEqual(["a"])
    expect(p.size).toBe(0)
  })
})

describe("isPresenceMessage", () => {
  it("accepts well-formed messages", () => {
    expect(isPresenceMessage(state("a", 1))).toBe(true)
    expect(isPresenceMessage(state("a", 1, "A", { anchor: "x", head: "y" }))).toBe(true)
    expect(isPresenceMessage(bye("a", 2))).toBe(true)
  })
  it.each([
    ["null", null],
    ["a string", "hi"],
    ["automerge-repo Presence", { __presence: { type: "heartbeat" } }],
    ["no seq", { weft: "presence", type: "bye", id: "a" }],
    ["bad cursor", { ...state("a", 1), cursor: { anchor: 1 } }],
    ["unknown type", { weft: "presence", type: "wave", id: "a", seq: 1 }],
  ])("rejects %s", (_n, m) => {
    expect(isPresenceMessage(m)).toBe(false)
  })
})
