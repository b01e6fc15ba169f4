import { cbor } from "@automerge/automerge-repo"
import { describe, expect, it } from "vitest"
import { authHeaders, withToken } from "../../src/auth"
import { ReconnectingWebSocketAdapter } from "../../src/net/adapter"
import { PresenceState } from "../../src/presence/state"

describe("credentials", () => {
  it("a page token goes on the WebSocket URL and as a bearer header", () => {
    expect(withToken("ws://h:1/", "a.b.c")).toBe("ws://h:1/?token=a.b.c")
    expect(withToken("ws://h:1/", null)).toBe("ws://h:1/")
    expect(authHeaders("a.b.c")).toEqual({ Authorization: "Bearer a.b.c" })
    expect(authHeaders(null)).toEqual({})
  })
})

describe("server error messages", () => {
  function adapter() {
    const a = new ReconnectingWebSocketAdapter("ws://127.0.0.1:1/")
    // receiveMessage needs a socket; none is opened in this test.
    ;(a as unknown as { socket: object }).socket = {}
    const seen: string[] = []
    a.onServerError = m => seen.push(m)
    return { a, seen }
  }

  it("reports the server's error message (a read-only refusal)", () => {
    const { a, seen } = adapter()
    const msg = "read-only access: changes to document 4NMNnkMhL8jXrdJ9jamS58PAVdXu refused"
    a.receiveMessage(cbor.encode({ type: "error", senderId: "server", targetId: "me", message: msg }))
    expect(seen).toEqual([msg])
  })

  it("ignores other messages, even ones whose bytes contain the word", () => {
    const { a, seen } = adapter()
    const messages: unknown[] = []
    a.on("message", m => messages.push(m))
    a.receiveMessage(
      cbor.encode({ type: "sync", senderId: "server", targetId: "me", documentId: "4NMNnkMhL8jXrdJ9jamS58PAVdXu", data: new Uint8Array([0x65, 0x65, 0x72, 0x72, 0x6f, 0x72]) }),
    )
    expect(seen).toEqual([])
    expect(messages).toHaveLength(1)
  })
})

describe("presence carries the actor id", () => {
  it("keeps a valid hex actor and drops anything else", () => {
    const p = new PresenceState("me")
    p.apply({ weft: "presence", type: "state", id: "ada", seq: 1, name: "Ada", color: "#0090ff", cursor: null, actor: "a1b2c3" }, 0)
    p.apply({ weft: "presence", type: "state", id: "bob", seq: 1, name: "Bob", color: "#30a46c", cursor: null, actor: "<script>" }, 0)
    expect(p.get("ada")?.actor).toBe("a1b2c3")
    expect(p.get("bob")?.actor).toBeUndefined()
  })
})
