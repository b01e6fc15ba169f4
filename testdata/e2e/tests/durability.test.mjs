// Restarts: graceful (SIGTERM), crash (kill -9), and edits made while the server was down.
import { test } from "node:test"
import assert from "node:assert/strict"
import * as A from "@automerge/automerge"

import {
  startWeft,
  tempDir,
  newRepo,
  connected,
  eventually,
  withTimeout,
  plain,
  sortedHeads,
  uploaded,
} from "./helpers.mjs"

test("SIGTERM exits 0 and a restart on the same data dir loses nothing", async () => {
  const dataDir = await tempDir()
  const weft1 = await startWeft({ dataDir })
  const repoA = newRepo(weft1.wsUrl, { storage: true })
  await connected(repoA)

  const handle = repoA.create({ text: "durable", items: [] })
  for (let i = 0; i < 10; i++) {
    handle.change(d => {
      d.items.push(i)
      A.splice(d, ["text"], d.text.length, 0, ` ${i}`)
    })
  }
  await uploaded(repoA, handle) // the server acknowledged the final heads
  const expected = plain(handle.doc())
  const heads = sortedHeads(handle)

  const exit = await weft1.stop("SIGTERM")
  assert.deepEqual(exit, { code: 0, signal: null }, "weft did not exit 0 on SIGTERM")

  const weft2 = await startWeft({ dataDir })
  const repoC = newRepo(weft2.wsUrl)
  const handleC = await withTimeout(repoC.find(handle.url), 10_000, "find after restart")
  assert.deepEqual(plain(handleC.doc()), expected)
  assert.deepEqual(sortedHeads(handleC), heads)
})

test("kill -9 right after an edit was relayed to another client loses nothing", async () => {
  const dataDir = await tempDir()
  const weft1 = await startWeft({ dataDir })
  const repoA = newRepo(weft1.wsUrl)
  const repoB = newRepo(weft1.wsUrl)
  await connected(repoA)

  const handleA = repoA.create({ text: "before crash" })
  await uploaded(repoA, handleA)
  const handleB = await withTimeout(repoB.find(handleA.url), 10_000, "repoB.find")

  // Kill the server the moment B's document shows the edit: no time for a lazy flush.
  const killed = new Promise(resolve => {
    const onChange = ({ doc }) => {
      if (doc.text === "after crash" && doc.marker === "x") {
        handleB.off("change", onChange)
        weft1.proc.kill("SIGKILL")
        resolve()
      }
    }
    handleB.on("change", onChange)
  })
  handleA.change(d => {
    A.updateText(d, ["text"], "after crash")
    d.marker = "x"
  })
  await withTimeout(killed, 10_000, "B seeing A's edit")
  const exit = await weft1.exited
  assert.equal(exit.signal, "SIGKILL")
  const heads = sortedHeads(handleB)

  const weft2 = await startWeft({ dataDir })
  const repoC = newRepo(weft2.wsUrl)
  const handleC = await withTimeout(repoC.find(handleA.url), 10_000, "find after kill -9")
  assert.deepEqual(plain(handleC.doc()), { text: "after crash", marker: "x" })
  assert.deepEqual(sortedHeads(handleC), heads)
})

test("edits made while the server was down arrive after it restarts on the same port", async () => {
  const dataDir = await tempDir()
  const weft1 = await startWeft({ dataDir })
  const repoA = newRepo(weft1.wsUrl)
  const repoB = newRepo(weft1.wsUrl)
  await connected(repoA)

  const handleA = repoA.create({ text: "online", log: [] })
  await uploaded(repoA, handleA)
  const handleB = await withTimeout(repoB.find(handleA.url), 10_000, "repoB.find")

  const exit = await weft1.stop("SIGTERM")
  assert.equal(exit.code, 0)
  await eventually(() => {
    assert.equal(repoA.peers.length, 0, "A still thinks it is connected")
    assert.equal(repoB.peers.length, 0, "B still thinks it is connected")
  })

  // A edits offline; the Repo keeps the change in memory.
  handleA.change(d => {
    A.updateText(d, ["text"], "edited offline")
    d.log.push("offline edit")
  })

  // Same port, so the clients' adapters reconnect by themselves (2.5.6 retries every 5 s).
  const weft2 = await startWeft({ dataDir, addr: weft1.addr })
  assert.equal(weft2.port, weft1.port)

  await eventually(
    () => {
      assert.equal(handleB.doc().text, "edited offline")
      assert.deepEqual(plain(handleB.doc().log), ["offline edit"])
    },
    { timeout: 25_000, interval: 100, message: "B did not get A's offline edit after the restart" }
  )
  await eventually(() => assert.deepEqual(sortedHeads(handleB), sortedHeads(handleA)))
})
