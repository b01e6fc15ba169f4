// Document sync between real automerge-repo 2.5.6 clients through weft.
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHash, randomBytes } from "node:crypto"
import * as A from "@automerge/automerge"

import {
  startWeft,
  newRepo,
  connected,
  eventually,
  withTimeout,
  plain,
  sortedHeads,
  sleep,
  uploaded,
} from "./helpers.mjs"

test("a document created on client A is found by client B with its content", async () => {
  const weft = await startWeft()
  const repoA = newRepo(weft.wsUrl)
  const repoB = newRepo(weft.wsUrl)
  await connected(repoA)

  const handleA = repoA.create({ text: "hello" })
  await uploaded(repoA, handleA)

  const handleB = await withTimeout(repoB.find(handleA.url), 10_000, "repoB.find")
  assert.equal(handleB.documentId, handleA.documentId)
  assert.equal(handleB.doc().text, "hello")
  assert.deepEqual(sortedHeads(handleB), sortedHeads(handleA))
})

test("edits flow both ways: A edits and B sees it, B edits and A sees it", async () => {
  const weft = await startWeft()
  const repoA = newRepo(weft.wsUrl)
  const repoB = newRepo(weft.wsUrl)
  await connected(repoA)

  const handleA = repoA.create({ text: "hello", items: [] })
  await uploaded(repoA, handleA)
  const handleB = await withTimeout(repoB.find(handleA.url), 10_000, "repoB.find")

  handleA.change(d => {
    A.splice(d, ["text"], 5, 0, " world")
    d.items.push("from A")
  })
  await eventually(() => {
    assert.equal(handleB.doc().text, "hello world")
    assert.deepEqual(plain(handleB.doc().items), ["from A"])
  })

  handleB.change(d => {
    A.splice(d, ["text"], 0, 0, ">> ")
    d.items.push("from B")
  })
  await eventually(() => {
    assert.equal(handleA.doc().text, ">> hello world")
    assert.deepEqual(plain(handleA.doc().items), ["from A", "from B"])
  })
  await eventually(() => assert.deepEqual(sortedHeads(handleA), sortedHeads(handleB)))
})

test("2 clients x 200 concurrent edits converge, and the server's copy equals theirs", async () => {
  const weft = await startWeft()
  const repoA = newRepo(weft.wsUrl)
  const repoB = newRepo(weft.wsUrl)
  await connected(repoA)

  const handleA = repoA.create({ text: "", a: [], b: [], count: new A.Counter(0) })
  await uploaded(repoA, handleA)
  const handleB = await withTimeout(repoB.find(handleA.url), 10_000, "repoB.find")

  const N = 200
  const edit = (handle, list, ch) =>
    handle.change(d => {
      d[list].push(d[list].length)
      d.count.increment(1)
      const pos = Math.floor(Math.random() * (d.text.length + 1))
      A.splice(d, ["text"], pos, 0, ch)
    })
  // Interleave the two clients' edits without waiting for sync. Yield to the event loop now and
  // then (random short pauses, ~0.5 s in all) so that sync messages cross in both directions
  // while both sides keep editing; the clients throttle their sync messages to one per 100 ms.
  for (let i = 0; i < N; i++) {
    edit(handleA, "a", "a")
    edit(handleB, "b", "b")
    if (i % 8 === 7) await sleep(5 + Math.floor(Math.random() * 30))
  }

  await eventually(
    () => {
      assert.deepEqual(sortedHeads(handleA), sortedHeads(handleB))
    },
    { timeout: 60_000, interval: 100, message: "A and B heads did not converge" }
  )
  const docA = plain(handleA.doc())
  assert.deepEqual(plain(handleB.doc()), docA)
  assert.equal(docA.count, 2 * N)
  assert.equal(docA.a.length, N)
  assert.equal(docA.b.length, N)
  assert.equal(docA.text.length, 2 * N)
  assert.equal(docA.text.replace(/b/g, "").length, N)

  // The server's copy, seen by a fresh client.
  const repoC = newRepo(weft.wsUrl)
  const handleC = await withTimeout(repoC.find(handleA.url), 20_000, "repoC.find")
  await eventually(() => assert.deepEqual(sortedHeads(handleC), sortedHeads(handleA)), {
    timeout: 20_000,
    message: "fresh client C did not get the converged heads",
  })
  assert.deepEqual(plain(handleC.doc()), docA)
})

test("an ephemeral broadcast from A reaches B exactly once with A's senderId", async () => {
  const weft = await startWeft()
  const repoA = newRepo(weft.wsUrl)
  const repoB = newRepo(weft.wsUrl)
  await connected(repoA)

  const handleA = repoA.create({ text: "presence" })
  await uploaded(repoA, handleA)
  const handleB = await withTimeout(repoB.find(handleA.url), 10_000, "repoB.find")

  const receivedB = []
  const receivedA = []
  handleB.on("ephemeral-message", e => receivedB.push(e))
  handleA.on("ephemeral-message", e => receivedA.push(e))

  // B must be subscribed on the server before A broadcasts; its find() above made it so
  // (it sent `request`). Wait until B's own sync round is done too.
  await eventually(() => assert.deepEqual(sortedHeads(handleB), sortedHeads(handleA)))

  handleA.broadcast({ hello: 1 })
  await eventually(() => assert.equal(receivedB.length, 1, "B got no ephemeral message"), {
    timeout: 5000,
  })
  // The pause is the point: look for duplicates (including echoes of B's own forwarding).
  await sleep(1000)
  assert.equal(receivedB.length, 1, "B got the ephemeral message more than once")
  assert.equal(receivedB[0].senderId, repoA.peerId)
  assert.deepEqual(receivedB[0].message, { hello: 1 })
  assert.equal(receivedA.length, 0, "A got its own ephemeral message back")

  // A second broadcast arrives too (a new count is not mistaken for a duplicate).
  handleA.broadcast({ hello: 2 })
  await eventually(() => assert.equal(receivedB.length, 2), { timeout: 5000 })
  assert.deepEqual(receivedB[1].message, { hello: 2 })
})

test("a 5 MB document syncs from A to B intact", async () => {
  const weft = await startWeft()
  const repoA = newRepo(weft.wsUrl)
  const repoB = newRepo(weft.wsUrl)
  await connected(repoA)

  const blob = new Uint8Array(randomBytes(5 * 1024 * 1024)) // incompressible
  const text = "large ".repeat(20_000) // 120 kB of collaborative text as well
  const handleA = repoA.create({ title: "big", blob, text })
  await uploaded(repoA, handleA, 60_000)

  const handleB = await withTimeout(repoB.find(handleA.url), 60_000, "repoB.find of the 5 MB doc")
  const docB = handleB.doc()
  assert.ok(docB.blob instanceof Uint8Array, "blob is not a byte array on B")
  assert.equal(docB.blob.length, blob.length)
  const sha = b => createHash("sha256").update(b).digest("hex")
  assert.equal(sha(docB.blob), sha(blob))
  assert.equal(docB.text, text)
  assert.equal(docB.title, "big")
  assert.deepEqual(sortedHeads(handleB), sortedHeads(handleA))
})

test("50 documents created on A are all found by B over its single connection", async () => {
  const weft = await startWeft()
  const repoA = newRepo(weft.wsUrl)
  const repoB = newRepo(weft.wsUrl)
  await connected(repoA)

  const handles = []
  for (let i = 0; i < 50; i++) handles.push(repoA.create({ i, text: `document number ${i}` }))
  await Promise.all(handles.map(h => uploaded(repoA, h, 30_000)))

  const found = await withTimeout(
    Promise.all(handles.map(h => repoB.find(h.url))),
    30_000,
    "repoB.find of 50 documents"
  )
  assert.equal(repoB.networkSubsystem.adapters.length, 1)
  found.forEach((hB, i) => {
    assert.equal(hB.documentId, handles[i].documentId)
    assert.deepEqual(plain(hB.doc()), { i, text: `document number ${i}` })
    assert.deepEqual(sortedHeads(hB), sortedHeads(handles[i]))
  })
})
