// Three weft nodes on a three-server nats-server cluster with JetStream (NATS_SERVER_BIN, the
// version go.mod pins; `make test-e2e` builds it), where the documents live; real automerge-repo
// 2.5.6 clients on the nodes:
//   - a document and its edits cross nodes, ephemeral messages cross nodes;
//   - a node killed with -9 right after it acknowledged an edit, its data dir removed: another
//     node serves the edit;
//   - a node that leaves for good with its data dir: its documents are served by the others and
//     by a new node with an empty data dir;
//   - one nats-server of three killed during continuous edits through two nodes: nothing lost;
//   - every nats-server stopped: edits are not acknowledged, the clients stay connected; once
//     NATS is back the server tells the writers to reconnect, they resend, everything converges;
//   - a delete through one node holds on every node.
//
// The steps share one cluster and run in order (a describe block); an earlier step failing skips
// the later ones. The whole suite is bounded to 90 s.
import { describe, it, before, after, afterEach } from "node:test"
import assert from "node:assert/strict"
import { rm } from "node:fs/promises"
import * as A from "@automerge/automerge"

import {
  NATS_SERVER_BIN,
  newScope,
  startNatsCluster,
  startWeft,
  newRepo,
  connected,
  eventually,
  withTimeout,
  plain,
  sortedHeads,
  sleep,
  uploaded,
  serverStorageId,
  httpStatus,
} from "./helpers.mjs"

const SKIP = NATS_SERVER_BIN
  ? false
  : "NATS_SERVER_BIN is not set: the multi-node tests need a nats-server binary " +
    "(make test-e2e builds bin/nats-server from go.mod and sets it)"

// The clients' reconnect interval (the adapter's retryInterval; 5 s by default): short, so that a
// client the server closed comes back quickly.
const RETRY_MS = 1000
const STORAGE_BACK = "storage is back; reconnect to send your unsaved changes"
const CLOSE_INTERNAL = 4004
const CLOSE_DELETED = 4507

/** Whether the server has advertised exactly the handle's heads to this client. */
function acked(repo, handle) {
  const info = handle.getSyncInfo(serverStorageId(repo))
  return !!info && JSON.stringify([...info.lastHeads].sort()) === JSON.stringify(sortedHeads(handle))
}

describe("three weft nodes on a three-server JetStream cluster", { skip: SKIP, timeout: 90_000 }, () => {
  const scope = newScope()
  let broken = null // name of the step that failed; later steps depend on it
  let nats // startNatsCluster's result
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

  const startNode = (id, opts = {}) =>
    startWeft({ scope, ...opts, args: ["--nats", nats.urls, "--node-id", `node-${id}`] })

  /** A client on n (released after the step) that finds url and waits for the given heads. */
  async function freshRead(n, url, heads, what) {
    const r = newRepo(n.wsUrl)
    await connected(r)
    const h = await withTimeout(r.find(url), 10_000, `fresh client on ${n.addr}: find of ${what}`)
    await eventually(() => assert.deepEqual(sortedHeads(h), heads), {
      timeout: 10_000,
      message: `the fresh client on ${n.addr} lacks edits of ${what}`,
    })
    return h
  }

  afterEach(t => {
    if (t.passed === false) {
      broken ??= t.name
      scope.dumpLogs(t.name)
    }
  })
  after(() => scope.release())

  it("starts three nats-servers with JetStream and three weft nodes on them, one client on each", { timeout: 30_000 }, async t => {
    const t0 = Date.now()
    nats = await startNatsCluster({ scope })
    t.diagnostic(`JetStream cluster healthy after ${Date.now() - t0} ms: ${nats.urls}`)
    // The first node creates the streams and buckets; the others find them.
    node.a = await startNode("a")
    ;[node.b, node.c] = await Promise.all(["b", "c"].map(id => startNode(id)))
    for (const id of ["a", "b", "c"])
      assert.doesNotMatch(node[id].logText(), /replicas capped/, `node ${id} did not get 3 replicas`)
    for (const id of ["a", "b", "c"]) repo[id] = newRepo(node[id].wsUrl, { scope, retryInterval: RETRY_MS })
    await Promise.all(Object.values(repo).map(r => connected(r)))
    t.diagnostic(`nodes a=${node.a.addr} b=${node.b.addr} c=${node.c.addr}, ${Date.now() - t0} ms`)
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
    await uploaded(repo.a, handleA)
    await uploaded(repo.b, handleB)
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

  it("kill -9 of node A right after it acknowledged an edit, its data dir removed: a fresh client on C finds the edit", { timeout: 20_000 }, async t => {
    if (skipIfBroken(t)) return
    // A second document, written only through A (no other node ever had it open).
    const handle2A = repo.a.create({ note: "created on A" })
    await uploaded(repo.a, handle2A)
    handle2A.change(d => {
      d.note = "edited on A"
    })
    handleA.change(d => {
      d.marker = "before kill -9"
      A.splice(d, ["text"], 0, 0, "!")
    })
    const t0 = Date.now()
    await uploaded(repo.a, handle2A)
    await uploaded(repo.a, handleA)
    const exit = await node.a.kill9()
    t.diagnostic(`node A killed ${Date.now() - t0} ms after the edits`)
    assert.equal(exit.signal, "SIGKILL")
    await rm(node.a.dataDir, { recursive: true, force: true })

    const h = await freshRead(node.c, handleA.url, sortedHeads(handleA), "the shared document")
    assert.equal(h.doc().marker, "before kill -9")
    assert.deepEqual(plain(h.doc()), plain(handleA.doc()))
    const h2 = await freshRead(node.c, handle2A.url, sortedHeads(handle2A), "the document only A had")
    assert.deepEqual(plain(h2.doc()), { note: "edited on A" })
    // The clients on B and C got A's last edit too (through the store, A being gone).
    await eventually(() => assert.deepEqual(sortedHeads(handleB), sortedHeads(handleA)), {
      timeout: 10_000,
      message: "the client on B lacks A's last edit",
    })
  })

  it("a node that leaves for good with its data dir: its documents are served by node B and by a new node with an empty data dir", { timeout: 30_000 }, async t => {
    if (skipIfBroken(t)) return
    const d = await startNode("d")
    const repoD = newRepo(d.wsUrl)
    await connected(repoD)
    const docs = []
    for (let i = 0; i < 5; i++) {
      const h = repoD.create({ title: `document ${i}`, body: "" })
      h.change(doc => A.splice(doc, ["body"], 0, 0, `written only through node D (${i})`))
      docs.push(h)
    }
    for (const h of docs) await uploaded(repoD, h)
    const expected = docs.map(h => ({ url: h.url, id: h.documentId, heads: sortedHeads(h), doc: plain(h.doc()) }))
    await repoD.shutdown()
    const exit = await d.stop()
    t.diagnostic(`node D stopped: ${JSON.stringify(exit)}`)
    await rm(d.dataDir, { recursive: true, force: true })

    // Node A's replacement: a new process with a fresh, empty data dir.
    node.a = await startNode("a2")
    for (const e of expected) {
      for (const n of [node.b, node.a]) {
        const h = await freshRead(n, e.url, e.heads, e.doc.title)
        assert.deepEqual(plain(h.doc()), e.doc)
        assert.equal(await httpStatus(`${n.url}/api/docs/${e.id}`), 200, `GET /api/docs/${e.id} on ${n.addr}`)
      }
    }
  })

  it("one nats-server of three killed during continuous edits through nodes B and C: the edits go on, converge, nothing lost", { timeout: 60_000 }, async t => {
    if (skipIfBroken(t)) return
    const N = 60
    const t0 = Date.now()
    let killedAt
    for (let i = 0; i < N; i++) {
      if (i === 20) {
        await nats.servers[0].kill9()
        killedAt = Date.now()
        t.diagnostic(`nats-server n1 killed with -9 after ${killedAt - t0} ms of edits`)
      }
      handleB.change(d => d.b.push(`during ${i}`))
      handleC.change(d => {
        d.a.push(`during ${i}`)
        d.count.increment(1)
      })
      await sleep(20) // typists, not a burst (pacing, not synchronization)
    }
    await eventually(
      () => {
        const state = () =>
          `(B acked: ${acked(repo.b, handleB)}, C acked: ${acked(repo.c, handleC)}, ` +
          `B heads ${sortedHeads(handleB)}, C heads ${sortedHeads(handleC)}, ` +
          `closes B ${JSON.stringify(repo.b.closes)} C ${JSON.stringify(repo.c.closes)})`
        assert.deepEqual(sortedHeads(handleC), sortedHeads(handleB), `B's and C's heads differ ${state()}`)
        assert.ok(acked(repo.b, handleB), `node B has not acknowledged B's client's heads ${state()}`)
        assert.ok(acked(repo.c, handleC), `node C has not acknowledged C's client's heads ${state()}`)
      },
      { timeout: 30_000, interval: 100, message: "B and C did not converge with one nats-server down" }
    )
    t.diagnostic(`converged and acknowledged ${Date.now() - killedAt} ms after the kill`)
    const doc = plain(handleB.doc())
    assert.deepEqual(plain(handleC.doc()), doc)
    for (let i = 0; i < N; i++) {
      assert.ok(doc.b.includes(`during ${i}`), `B's edit ${i} is lost`)
      assert.ok(doc.a.includes(`during ${i}`), `C's edit ${i} is lost`)
    }
    assert.equal(doc.count, 100 + N)
    t.diagnostic(
      `closes while one server was down: B ${JSON.stringify(repo.b.closes)} C ${JSON.stringify(repo.c.closes)}`
    )
    // A new node reads everything; then the dead server comes back for the next step.
    await freshRead(node.a, handleB.url, sortedHeads(handleB), "the shared document")
    await nats.restart(0)
    await nats.healthy()
  })

  it("every nats-server stopped: edits through B and C are not acknowledged, the clients stay connected; all three restarted: B and C converge and a fresh client on A sees everything", { timeout: 60_000 }, async t => {
    if (skipIfBroken(t)) return
    const bLogAt = node.b.logText().length
    const cLogAt = node.c.logText().length
    const bClosesAt = repo.b.closes.length
    const cClosesAt = repo.c.closes.length
    await Promise.all(nats.servers.map(s => s.stop("SIGTERM")))
    await eventually(
      () => {
        assert.match(node.b.logText().slice(bLogAt), /nats disconnected/, "node B did not notice")
        assert.match(node.c.logText().slice(cLogAt), /nats disconnected/, "node C did not notice")
      },
      { timeout: 15_000, interval: 100, message: "nodes noticing that NATS is gone" }
    )

    handleB.change(d => {
      d.partition.push("B")
      A.splice(d, ["text"], 0, 0, "B")
    })
    handleC.change(d => {
      d.partition.push("C")
      A.splice(d, ["text"], d.text.length, 0, "C")
    })
    // Each node got its client's edit and could not store it.
    await eventually(
      () => {
        assert.match(node.b.logText().slice(bLogAt), /persisting changes failed/, "node B refused nothing")
        assert.match(node.c.logText().slice(cLogAt), /persisting changes failed/, "node C refused nothing")
      },
      { timeout: 10_000, interval: 50, message: "the nodes refusing the edits they could not store" }
    )
    assert.ok(!acked(repo.b, handleB), "node B acknowledged an edit with every nats-server down")
    assert.ok(!acked(repo.c, handleC), "node C acknowledged an edit with every nats-server down")
    // Nothing crosses while NATS is down, and the clients stay connected.
    assert.deepEqual(plain(handleB.doc().partition), ["B"], "B's client saw C's edit with NATS down")
    assert.deepEqual(plain(handleC.doc().partition), ["C"], "C's client saw B's edit with NATS down")
    assert.equal(repo.b.closes.length, bClosesAt, `B's client was closed: ${JSON.stringify(repo.b.closes.slice(bClosesAt))}`)
    assert.equal(repo.c.closes.length, cClosesAt, `C's client was closed: ${JSON.stringify(repo.c.closes.slice(cClosesAt))}`)
    assert.ok(repo.b.peers.length > 0 && repo.c.peers.length > 0, "a client lost its server")

    const t0 = Date.now()
    await Promise.all(nats.servers.map((_, i) => nats.restart(i)))
    await nats.healthy()
    t.diagnostic(`JetStream healthy ${Date.now() - t0} ms after the restart`)
    await eventually(
      () => {
        assert.deepEqual([...plain(handleB.doc().partition)].sort(), ["B", "C"], "B's client lacks C's edit")
        assert.deepEqual(sortedHeads(handleC), sortedHeads(handleB), "B's and C's heads differ")
        assert.ok(acked(repo.b, handleB), "node B has not acknowledged B's client's heads")
        assert.ok(acked(repo.c, handleC), "node C has not acknowledged C's client's heads")
      },
      { timeout: 30_000, interval: 100, message: "B and C did not converge after NATS came back" }
    )
    t.diagnostic(`B and C converged ${Date.now() - t0} ms after the nats-servers restarted`)
    const doc = plain(handleB.doc())
    assert.deepEqual(plain(handleC.doc()), doc)
    assert.ok(doc.text.startsWith("B") && doc.text.endsWith("C"), `text: ${doc.text}`)
    // The writers were told to reconnect and send what was refused.
    for (const [id, at] of [["b", bClosesAt], ["c", cClosesAt]]) {
      const closes = repo[id].closes.slice(at)
      assert.ok(
        closes.some(c => c.code === CLOSE_INTERNAL && c.reason === STORAGE_BACK),
        `${id.toUpperCase()}'s client was not told that storage is back: ${JSON.stringify(closes)}`
      )
    }
    const h = await freshRead(node.a, handleB.url, sortedHeads(handleB), "the shared document")
    assert.deepEqual(plain(h.doc()), doc)
  })

  it("a delete through node B holds on every node: peers elsewhere are closed, a write does not bring it back, GET is 404 everywhere", { timeout: 30_000 }, async t => {
    if (skipIfBroken(t)) return
    const id = handleB.documentId
    const onA = newRepo(node.a.wsUrl, { retryInterval: RETRY_MS })
    await connected(onA)
    await withTimeout(onA.find(handleB.url), 10_000, "find through node A")
    const cAt = repo.c.closes.length
    const aAt = onA.closes.length

    const res = await fetch(`${node.b.url}/api/docs/${id}`, { method: "DELETE" })
    assert.equal(res.status, 204, `DELETE through node B: ${res.status} ${await res.text()}`)
    await eventually(
      () => {
        assert.ok(repo.c.closes.slice(cAt).some(c => c.code === CLOSE_DELETED), `C: ${JSON.stringify(repo.c.closes.slice(cAt))}`)
        assert.ok(onA.closes.slice(aAt).some(c => c.code === CLOSE_DELETED), `A: ${JSON.stringify(onA.closes.slice(aAt))}`)
      },
      { timeout: 10_000, message: "the clients on nodes C and A were not closed with 4507" }
    )

    // The client on C keeps its copy and writes to it: the document does not come back. (The
    // 2.5.6 client reconnects and offers the document again each time; every time it is closed
    // with 4507, never with a transient code.)
    const deletedAt = repo.c.closes.filter(c => c.code === CLOSE_DELETED).length
    handleC.change(d => {
      d.partition.push("after the delete")
    })
    await eventually(
      () => {
        const since = repo.c.closes.slice(cAt)
        assert.ok(
          since.filter(c => c.code === CLOSE_DELETED).length > deletedAt,
          `C: ${JSON.stringify(since)}`
        )
      },
      { timeout: 10_000, message: "the write to the deleted document through C was not refused with 4507" }
    )
    const since = repo.c.closes.slice(cAt)
    assert.deepEqual(
      since.filter(c => c.code !== CLOSE_DELETED),
      [],
      "the client on C was closed with another code than 4507 after the delete"
    )
    for (const n of [node.a, node.b, node.c]) {
      assert.equal(await httpStatus(`${n.url}/api/docs/${id}`), 404, `GET /api/docs/${id} through ${n.addr}`)
    }
  })
})
