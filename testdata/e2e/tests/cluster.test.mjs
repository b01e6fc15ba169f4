// Three weft nodes joined by a real nats-server (NATS_SERVER_BIN, the version go.mod pins; `make
// test-e2e` builds it), one real automerge-repo 2.5.6 client per node: a document and its edits
// cross nodes, ephemeral messages cross nodes, a node killed with -9 loses nothing another node
// saw, and writes made on two nodes while NATS was down meet when it comes back.
//
// The steps share one cluster and run in order (a describe block); an earlier step failing skips
// the later ones. The whole suite is bounded to 60 s.
import { describe, it, before, after, afterEach } from "node:test"
import assert from "node:assert/strict"
import * as A from "@automerge/automerge"

import {
  NATS_SERVER_BIN,
  newScope,
  startNats,
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

const SKIP = NATS_SERVER_BIN
  ? false
  : "NATS_SERVER_BIN is not set: the multi-node tests need a nats-server binary " +
    "(make test-e2e builds bin/nats-server from go.mod and sets it)"

describe("three weft nodes joined by NATS", { skip: SKIP, timeout: 60_000 }, () => {
  const scope = newScope()
  let broken = null // name of the step that failed; later steps depend on it
  let nats
  const node = {} // a, b, c: weft processes
  const repo = {} // a, b, c: one client per node
  let handleA, handleB, handleC // the shared document, on each client

  const skipIfBroken = t => {
    if (broken) {
      t.skip(`an earlier step failed: ${broken}`)
      return true
    }
    return false
  }

  afterEach(t => {
    if (t.passed === false) {
      broken ??= t.name
      scope.dumpLogs(t.name)
    }
  })
  after(() => scope.release())

  it("starts nats-server and three weft nodes on it, one client connected to each", { timeout: 20_000 }, async t => {
    nats = await startNats({ scope })
    const started = await Promise.all(
      ["a", "b", "c"].map(id =>
        startWeft({ scope, args: ["--nats", nats.url, "--node-id", `node-${id}`] })
      )
    )
    ;[node.a, node.b, node.c] = started
    for (const id of ["a", "b", "c"]) repo[id] = newRepo(node[id].wsUrl, { scope })
    await Promise.all(Object.values(repo).map(r => connected(r)))
    t.diagnostic(`nats ${nats.url}; nodes a=${node.a.addr} b=${node.b.addr} c=${node.c.addr}`)
  })

  it("a document created through node A is found through node C; concurrent edits through A and B converge on all three clients", { timeout: 20_000 }, async t => {
    if (skipIfBroken(t)) return
    handleA = repo.a.create({ text: "cluster", a: [], b: [], partition: [], count: new A.Counter(0) })
    await uploaded(repo.a, handleA)

    handleC = await withTimeout(repo.c.find(handleA.url), 10_000, "find through node C")
    assert.deepEqual(plain(handleC.doc()), { text: "cluster", a: [], b: [], partition: [], count: 0 })
    assert.deepEqual(sortedHeads(handleC), sortedHeads(handleA))
    handleB = await withTimeout(repo.b.find(handleA.url), 10_000, "find through node B")
    assert.equal(handleB.doc().text, "cluster")

    const N = 50
    const edit = (handle, list, ch) =>
      handle.change(d => {
        d[list].push(d[list].length)
        d.count.increment(1)
        A.splice(d, ["text"], Math.floor(Math.random() * (d.text.length + 1)), 0, ch)
      })
    // Interleaved, without waiting for sync; short random pauses let sync messages cross both
    // ways (through two nodes and NATS) while both clients keep editing.
    for (let i = 0; i < N; i++) {
      edit(handleA, "a", "a")
      edit(handleB, "b", "b")
      if (i % 8 === 7) await sleep(5 + Math.floor(Math.random() * 30))
    }
    const t0 = Date.now()
    await eventually(
      () => {
        const heads = sortedHeads(handleA)
        assert.deepEqual(sortedHeads(handleB), heads, "B's heads differ from A's")
        assert.deepEqual(sortedHeads(handleC), heads, "C's heads differ from A's")
      },
      { timeout: 15_000, interval: 100, message: "the three clients did not converge" }
    )
    t.diagnostic(`converged ${Date.now() - t0} ms after the last edit`)
    const doc = plain(handleA.doc())
    assert.deepEqual(plain(handleB.doc()), doc)
    assert.deepEqual(plain(handleC.doc()), doc)
    assert.equal(doc.count, 2 * N)
    assert.equal(doc.a.length, N)
    assert.equal(doc.b.length, N)
    assert.equal(doc.text.length, "cluster".length + 2 * N)
  })

  it("an ephemeral broadcast from the client on A reaches the clients on C and B once", { timeout: 10_000 }, async t => {
    if (skipIfBroken(t)) return
    const got = { a: [], b: [], c: [] }
    const handles = { a: handleA, b: handleB, c: handleC }
    const listeners = {}
    for (const id of ["a", "b", "c"]) {
      listeners[id] = e => got[id].push(e)
      handles[id].on("ephemeral-message", listeners[id])
    }
    try {
      handleA.broadcast({ cursor: 7, from: "A" })
      await eventually(() => assert.equal(got.c.length, 1, "C got no ephemeral message"), { timeout: 5000 })
      await eventually(() => assert.equal(got.b.length, 1, "B got no ephemeral message"), { timeout: 5000 })
      await sleep(500) // look for duplicates
      assert.equal(got.c.length, 1, "C got the ephemeral message more than once")
      assert.equal(got.b.length, 1, "B got the ephemeral message more than once")
      assert.equal(got.a.length, 0, "A got its own ephemeral message back")
      assert.equal(got.c[0].senderId, repo.a.peerId)
      assert.deepEqual(got.c[0].message, { cursor: 7, from: "A" })
    } finally {
      for (const id of ["a", "b", "c"]) handles[id].off("ephemeral-message", listeners[id])
    }
  })

  it("kill -9 of node A right after the client on B saw its edit: a fresh client on C finds the edit", { timeout: 20_000 }, async t => {
    if (skipIfBroken(t)) return
    // A second document, opened only through A and B (node C never had it open).
    const handle2A = repo.a.create({ note: "created on A" })
    await uploaded(repo.a, handle2A)
    const handle2B = await withTimeout(repo.b.find(handle2A.url), 10_000, "find of the second document through node B")

    // Kill node A the moment the client on B shows both edits: no time for anything lazy.
    let check
    const killed = new Promise(resolve => {
      check = () => {
        if (handleB.doc()?.marker === "before kill -9" && handle2B.doc()?.note === "edited on A") {
          handleB.off("change", check)
          handle2B.off("change", check)
          node.a.proc.kill("SIGKILL")
          resolve()
        }
      }
      handleB.on("change", check)
      handle2B.on("change", check)
    })
    const t0 = Date.now()
    handle2A.change(d => {
      d.note = "edited on A"
    })
    handleA.change(d => {
      d.marker = "before kill -9"
      A.splice(d, ["text"], 0, 0, "!")
    })
    try {
      await withTimeout(killed, 10_000, "the client on B seeing A's edits")
    } finally {
      handleB.off("change", check)
      handle2B.off("change", check)
    }
    t.diagnostic(`node A killed ${Date.now() - t0} ms after the edits`)
    const exit = await node.a.exited
    assert.equal(exit.signal, "SIGKILL")
    const heads = sortedHeads(handleB)
    const heads2 = sortedHeads(handle2B)
    const expected = plain(handleB.doc())

    const fresh = newRepo(node.c.wsUrl) // released after this step
    await connected(fresh)
    const h = await withTimeout(fresh.find(handleA.url), 10_000, "fresh client on C: find")
    await eventually(() => assert.deepEqual(sortedHeads(h), heads), {
      timeout: 5000,
      message: "the fresh client on C lacks A's last edit",
    })
    assert.equal(h.doc().marker, "before kill -9")
    assert.deepEqual(plain(h.doc()), expected)

    const h2 = await withTimeout(fresh.find(handle2A.url), 10_000, "fresh client on C: find of the second document")
    await eventually(() => assert.deepEqual(sortedHeads(h2), heads2), {
      timeout: 5000,
      message: "the fresh client on C lacks A's edit of the document only A and B had",
    })
    assert.deepEqual(plain(h2.doc()), { note: "edited on A" })
  })

  it("nats-server stopped, edits through B and C, nats-server restarted on the same port: B and C converge", { timeout: 40_000 }, async t => {
    if (skipIfBroken(t)) return
    const port = nats.port
    const exit = await nats.stop("SIGTERM")
    t.diagnostic(`nats-server stopped: ${JSON.stringify(exit)}`)
    await eventually(
      () => {
        assert.match(node.b.logText(), /nats disconnected/, "node B did not notice")
        assert.match(node.c.logText(), /nats disconnected/, "node C did not notice")
      },
      { timeout: 10_000, interval: 100, message: "nodes noticing that NATS is gone" }
    )

    handleB.change(d => {
      d.partition.push("B")
      A.splice(d, ["text"], 0, 0, "B")
    })
    handleC.change(d => {
      d.partition.push("C")
      A.splice(d, ["text"], d.text.length, 0, "C")
    })
    // Each node accepted (and made durable) its own client's edit.
    await uploaded(repo.b, handleB)
    await uploaded(repo.c, handleC)
    // Nothing can cross while NATS is down.
    assert.deepEqual(plain(handleB.doc().partition), ["B"], "B's client saw C's edit with NATS down")
    assert.deepEqual(plain(handleC.doc().partition), ["C"], "C's client saw B's edit with NATS down")

    const bLogAt = node.b.logText().length
    const cLogAt = node.c.logText().length
    nats = await startNats({ scope, port })
    assert.equal(nats.port, port)
    const t0 = Date.now()
    await eventually(
      () => {
        assert.deepEqual(sortedHeads(handleC), sortedHeads(handleB), "B's and C's heads differ")
        assert.deepEqual([...plain(handleB.doc().partition)].sort(), ["B", "C"])
      },
      { timeout: 20_000, interval: 100, message: "B and C did not converge after NATS came back" }
    )
    t.diagnostic(`B and C converged ${Date.now() - t0} ms after nats-server restarted`)
    const doc = plain(handleB.doc())
    assert.deepEqual(plain(handleC.doc()), doc)
    assert.ok(doc.text.startsWith("B") && doc.text.endsWith("C"), `text: ${doc.text}`)
    assert.match(node.b.logText().slice(bLogAt), /nats reconnected/, "node B logged no reconnect")
    assert.match(node.c.logText().slice(cLogAt), /nats reconnected/, "node C logged no reconnect")
  })
})
