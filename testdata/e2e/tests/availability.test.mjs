// Documents the server does not have: doc-unavailable, and late arrival.
import { test } from "node:test"
import assert from "node:assert/strict"
import { generateAutomergeUrl } from "@automerge/automerge-repo"

import {
  startWeft,
  newRepo,
  connectRepo,
  connected,
  withTimeout,
  eventually,
  sortedHeads,
  plain,
} from "./helpers.mjs"

test("find() of an unknown document rejects as unavailable within 1 s", async () => {
  const weft = await startWeft()
  const repo = newRepo(weft.wsUrl)
  await connected(repo)

  const url = generateAutomergeUrl() // a valid id (bs58check) nobody has
  const t0 = Date.now()
  await assert.rejects(withTimeout(repo.find(url), 5000, "find of an unknown document"), err => {
    assert.match(err.message, /unavailable/)
    return true
  })
  const elapsed = Date.now() - t0
  assert.ok(elapsed < 1000, `find() took ${elapsed} ms to reject (the server must send doc-unavailable)`)
})

test("a document requested before it exists reaches the waiting client when uploaded later", async () => {
  const weft = await startWeft()
  const repoA = newRepo(weft.wsUrl)
  await connected(repoA)

  // B creates the document while offline, so the server does not have it yet.
  const repoB = newRepo(weft.wsUrl, { network: false })
  const handleB = repoB.create({ text: "late arrival", n: 42 })

  // 2.5.6: find() rejects once the server answers doc-unavailable, but the handle stays in the
  // repo's cache (state "unavailable") and the server keeps A subscribed to the document.
  await assert.rejects(withTimeout(repoA.find(handleB.url), 5000, "find"), /unavailable/)
  const handleA = await repoA.find(handleB.url, { allowableStates: ["ready", "unavailable"] })
  assert.equal(handleA.state, "unavailable")

  // B comes online and uploads the document (its share policy announces it to the server).
  connectRepo(repoB)
  await connected(repoB)

  await withTimeout(handleA.whenReady(), 15_000, "A's handle becoming ready after the upload")
  assert.deepEqual(plain(handleA.doc()), { text: "late arrival", n: 42 })
  await eventually(() => assert.deepEqual(sortedHeads(handleA), sortedHeads(handleB)))

  // And a later find() on A resolves with the ready handle.
  const again = await withTimeout(repoA.find(handleB.url), 5000, "find after arrival")
  assert.equal(again, handleA)
})
