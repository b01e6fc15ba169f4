// Wire-level checks with a raw WebSocket and the cbor-x encoder automerge-repo uses
// (PROTOCOL.md §2–§4), plus the HTTP endpoints.
import { test } from "node:test"
import assert from "node:assert/strict"
import * as A from "@automerge/automerge"
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo"

import {
  startWeft,
  rawSocket,
  joinMessage,
  randomPeerId,
  httpStatus,
  withTimeout,
  eventually,
  sleep,
  newRepo,
  connected,
} from "./helpers.mjs"

// The `request` payload a 3.5.0 client sends for a document it does not have (PROTOCOL.md §4.8).
const REQUEST_DATA = Uint8Array.from([0x42, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x02, 0x84])

const newDocumentId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId

/** Opens a raw socket and completes the join handshake; returns the socket and the peer reply. */
async function joined(wsUrl, peerId = randomPeerId(), opts) {
  const s = await rawSocket(wsUrl)
  s.send(joinMessage(peerId, opts))
  const peer = await s.next(m => m?.type === "peer", 5000)
  return { s, peer, peerId }
}

/** The first sync message of a client that has a one-change document (it carries heads). */
function firstSyncOfNewDoc() {
  const doc = A.from({ x: 1 })
  const [, msg] = A.generateSyncMessage(doc, A.initSyncState())
  assert.ok(msg && A.decodeSyncMessage(msg).heads.length === 1)
  return msg
}

test("join is answered at once with a well-formed peer message, as a binary frame", async () => {
  const weft = await startWeft()
  const s = await rawSocket(weft.wsUrl)
  const peerId = randomPeerId()
  const t0 = Date.now()
  s.send(joinMessage(peerId, { storageId: "3f9a1c2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b", isEphemeral: false }))
  const peer = await s.next(m => m?.type === "peer", 2000)
  const elapsed = Date.now() - t0
  assert.ok(elapsed < 500, `peer reply took ${elapsed} ms (the client force-readies after 1 s)`)
  assert.ok(s.messages[0].isBinary, "peer message was not a binary frame")
  assert.equal(peer.targetId, peerId)
  assert.equal(peer.selectedProtocolVersion, "1")
  assert.equal(typeof peer.senderId, "string")
  assert.ok(peer.senderId.length > 0)
  assert.equal(typeof peer.peerMetadata?.storageId, "string", "peer.peerMetadata.storageId")
  assert.equal(peer.peerMetadata.isEphemeral, false)

  // A join without storage (storageId: undefined, CBOR f7) works too.
  const s2 = await rawSocket(weft.wsUrl)
  s2.send(joinMessage(randomPeerId(), { storageId: undefined, isEphemeral: true }))
  await s2.next(m => m?.type === "peer", 2000)

  // request for an unknown (valid) document → doc-unavailable.
  const documentId = newDocumentId()
  s.send({ type: "request", senderId: peerId, targetId: peer.senderId, documentId, data: REQUEST_DATA })
  const unavailable = await s.next(m => m?.type === "doc-unavailable", 2000)
  assert.equal(unavailable.documentId, documentId)
  assert.equal(unavailable.targetId, peerId)
})

test("join with only protocol version 2 gets an error message, then the socket is closed", async () => {
  const weft = await startWeft()
  const s = await rawSocket(weft.wsUrl)
  const peerId = randomPeerId()
  s.send(joinMessage(peerId, { versions: ["2"] }))
  const err = await s.next(m => m?.type === "error", 5000)
  assert.equal(typeof err.message, "string")
  assert.ok(err.message.length > 0)
  assert.equal(err.targetId, peerId)
  await withTimeout(s.closed, 5000, "close after the error message")
  assert.ok(!s.messages.some(m => m.value?.type === "peer"), "got a peer message despite the error")
})

test("invalid CBOR makes the server close the socket with a close reason", async () => {
  const weft = await startWeft()
  const { s } = await joined(weft.wsUrl)
  // 0x1c: major type 0 with reserved additional information 28: not well-formed CBOR.
  s.send(Buffer.from([0x1c, 0xff, 0xff, 0x00]))
  const { code, reason } = await withTimeout(s.closed, 5000, "server closing the socket")
  assert.ok(reason.length > 0, `close without a reason (code ${code})`)
  assert.equal(await httpStatus(`${weft.url}/healthz`), 200)
})

test("a sync whose senderId differs from the joined peerId gets no reply", async () => {
  const weft = await startWeft()
  const { s, peer, peerId } = await joined(weft.wsUrl)
  const documentId = newDocumentId()
  const data = firstSyncOfNewDoc()

  s.send({ type: "sync", senderId: "peer-impostor", targetId: peer.senderId, documentId, data })
  await sleep(1000) // the pause is the point: nothing may come back
  assert.deepEqual(
    s.messages.map(m => m.value?.type),
    ["peer"],
    "the server answered a message whose senderId is not the socket's peer"
  )

  // Control: the same message with the right senderId is answered with a sync.
  s.send({ type: "sync", senderId: peerId, targetId: peer.senderId, documentId, data })
  const reply = await s.next(m => m?.type === "sync", 5000)
  assert.equal(reply.documentId, documentId)
  assert.equal(reply.targetId, peerId)
  assert.ok(reply.data instanceof Uint8Array && reply.data.length > 0)
})

test("a socket that never joins is closed by the server (--join-timeout 2s)", async () => {
  let weft
  try {
    weft = await startWeft({ args: ["--join-timeout", "2s"] })
  } catch (e) {
    throw new Error(`weft serve does not accept --join-timeout 2s (the flag is part of the spec): ${e.message}`)
  }
  const s = await rawSocket(weft.wsUrl)
  const t0 = Date.now()
  await withTimeout(s.closed, 10_000, "server closing a socket that never sent join")
  const elapsed = Date.now() - t0
  assert.ok(elapsed >= 1000, `closed after only ${elapsed} ms`)

  // A socket that joins in time stays open past the timeout.
  const { s: ok } = await joined(weft.wsUrl)
  await sleep(3000)
  assert.equal(ok.isClosed(), false, "a joined socket was closed by the join timeout")
})

test("a request for an invalid documentId does not crash the server", async () => {
  const weft = await startWeft()
  const { s, peer, peerId } = await joined(weft.wsUrl)
  for (const documentId of ["not-a-valid-id", "", "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu", "4NMNnkMhL8jXrdJ9jamS58PAVdXv"]) {
    s.send({ type: "request", senderId: peerId, targetId: peer.senderId, documentId, data: REQUEST_DATA })
  }
  await sleep(500)
  assert.equal(weft.proc.exitCode, null, "weft exited")
  assert.equal(weft.proc.signalCode, null, "weft was killed by a signal")
  assert.equal(await httpStatus(`${weft.url}/healthz`), 200)
  assert.ok(
    !s.messages.some(m => m.value?.type === "sync"),
    "the server answered a request for an invalid id with a sync message"
  )

  // The server still serves new clients.
  const { s: s2, peer: peer2, peerId: id2 } = await joined(weft.wsUrl)
  const documentId = newDocumentId()
  s2.send({ type: "request", senderId: id2, targetId: peer2.senderId, documentId, data: REQUEST_DATA })
  await s2.next(m => m?.type === "doc-unavailable" && m.documentId === documentId, 5000)
})

test("newest socket wins: a second join with the same peerId closes the first socket", async () => {
  const weft = await startWeft()
  const peerId = randomPeerId()
  const first = await joined(weft.wsUrl, peerId)
  const second = await joined(weft.wsUrl, peerId)
  await withTimeout(first.s.closed, 5000, "server closing the older socket")
  assert.equal(second.s.isClosed(), false)

  // The new socket is the live one.
  const documentId = newDocumentId()
  second.s.send({ type: "request", senderId: peerId, targetId: second.peer.senderId, documentId, data: REQUEST_DATA })
  await second.s.next(m => m?.type === "doc-unavailable" && m.documentId === documentId, 5000)
})

test("ephemeral messages are relayed to other subscribers once per count, with senderId kept", async () => {
  const weft = await startWeft()
  const p1 = await joined(weft.wsUrl)
  const p2 = await joined(weft.wsUrl)
  const outsider = await joined(weft.wsUrl)
  const documentId = newDocumentId()
  const serverId = p1.peer.senderId

  // p1 uploads a document, p2 requests it: both are subscribed. The outsider is not.
  p1.s.send({ type: "sync", senderId: p1.peerId, targetId: serverId, documentId, data: firstSyncOfNewDoc() })
  await p1.s.next(m => m?.type === "sync" && m.documentId === documentId, 5000)
  p2.s.send({ type: "request", senderId: p2.peerId, targetId: serverId, documentId, data: REQUEST_DATA })
  await p2.s.next(m => (m?.type === "sync" || m?.type === "doc-unavailable") && m.documentId === documentId, 5000)

  const ephemeral = (count, data) => ({
    type: "ephemeral",
    senderId: p1.peerId,
    targetId: serverId,
    documentId,
    count,
    sessionId: "session-e2e",
    data,
  })
  const got = () => p2.s.messages.map(m => m.value).filter(m => m?.type === "ephemeral")

  p1.s.send(ephemeral(1, Uint8Array.from([0xa1, 0x61, 0x61, 0x01])))
  const first = await p2.s.next(m => m?.type === "ephemeral", 5000)
  assert.equal(first.senderId, p1.peerId)
  assert.equal(first.targetId, p2.peerId)
  assert.equal(first.documentId, documentId)
  assert.equal(first.count, 1)
  assert.equal(first.sessionId, "session-e2e")
  assert.deepEqual([...first.data], [0xa1, 0x61, 0x61, 0x01])

  p1.s.send(ephemeral(1, Uint8Array.from([0x02]))) // same count again: a duplicate
  // p2 echoes p1's message back, as a 2.5.6 Repo forwards to its other peers: dropped.
  p2.s.send({ ...first, targetId: serverId })
  p1.s.send(ephemeral(2 ** 31 + 5, Uint8Array.from([0x03]))) // a large count
  await eventually(() => assert.equal(got().length, 2), { timeout: 5000 })
  await sleep(500) // the pause is the point: no duplicate may follow
  assert.deepEqual(got().map(m => m.count), [1, 2 ** 31 + 5])
  assert.deepEqual([...got()[1].data], [0x03])
  assert.ok(!p1.s.messages.some(m => m.value?.type === "ephemeral"), "the sender got its own ephemeral message")
  assert.ok(
    !outsider.s.messages.some(m => m.value?.type === "ephemeral"),
    "a peer not syncing the document got its ephemeral message"
  )
})

test("remote-heads-changed, remote-subscription-change, doc-unavailable and leave are tolerated", async () => {
  const weft = await startWeft()
  const { s, peer, peerId } = await joined(weft.wsUrl)
  const documentId = newDocumentId()
  s.send({ type: "remote-subscription-change", senderId: peerId, targetId: peer.senderId, add: ["x"], remove: undefined })
  s.send({
    type: "remote-heads-changed",
    senderId: peerId,
    targetId: peer.senderId,
    documentId,
    newHeads: { x: { heads: [], timestamp: 1764000000123 } }, // timestamp goes out as float64
  })
  s.send({ type: "doc-unavailable", senderId: peerId, targetId: peer.senderId, documentId })
  s.send({ type: "some-future-type", senderId: peerId, targetId: peer.senderId })

  // The connection still works.
  s.send({ type: "request", senderId: peerId, targetId: peer.senderId, documentId, data: REQUEST_DATA })
  await s.next(m => m?.type === "doc-unavailable" && m.documentId === documentId, 5000)
  assert.equal(s.isClosed(), false)

  // Legacy leave (2.5.6 never sends it): ignored or taken as a disconnect, but never a crash.
  s.send({ type: "leave", senderId: peerId })
  await sleep(200)
  assert.equal(await httpStatus(`${weft.url}/healthz`), 200)
  const again = await joined(weft.wsUrl, peerId)
  assert.equal(again.peer.targetId, peerId)
})

test("/healthz and /readyz return 200 and a WebSocket upgrade works on any path", async () => {
  const weft = await startWeft()
  assert.equal(await httpStatus(`${weft.url}/healthz`), 200)
  assert.equal(await httpStatus(`${weft.url}/readyz`), 200)

  const { peer } = await joined(`${weft.wsUrl}some/path`)
  assert.equal(peer.selectedProtocolVersion, "1")

  // A real client on that path connects too.
  const repo = newRepo(`${weft.wsUrl}some/path?x=1`)
  await connected(repo)
})
