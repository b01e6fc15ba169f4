// The HTTP API (/api/…) against the built server, together with real automerge-repo 2.5.6
// WebSocket clients: edits both ways, HTTP sync with @automerge/automerge's own sync functions,
// the Server-Sent Events feed, time travel and restore.
import { test } from "node:test"
import assert from "node:assert/strict"
import * as A from "@automerge/automerge"

import { startWeft, newRepo, connected, eventually, withTimeout, plain, uploaded } from "./helpers.mjs"
import { HttpSyncClient } from "../httpsync-client.mjs"

/** A JSON API call: { status, headers, body }. Throws unless the status is `expect` (if given). */
async function api(weft, method, path, body, { expect, headers = {} } = {}) {
  const res = await fetch(weft.url + path, {
    method,
    headers: body === undefined ? headers : { "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  let json
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = text
  }
  if (expect !== undefined) assert.equal(res.status, expect, `${method} ${path}: ${res.status} ${text}`)
  return { status: res.status, headers: res.headers, body: json }
}

const headsList = s => (s ? s.split(",").sort() : [])
// A handle's heads as the API writes them: hex change hashes (DocHandle.heads() are bs58 in 2.x).
const hexHeads = handle => [...A.getHeads(handle.doc())].sort()

async function createDoc(weft, content, message) {
  const { body } = await api(weft, "POST", "/api/docs", { content, message }, { expect: 201 })
  assert.match(body.url, /^automerge:/)
  return body
}

/**
 * Opens GET url as Server-Sent Events, read with fetch streaming. Returns { events, next(pred,
 * ms), close() }; events are { event, id, data } in arrival order.
 */
async function openEvents(url) {
  const ac = new AbortController()
  const res = await fetch(url, { signal: ac.signal, headers: { Accept: "text/event-stream" } })
  assert.equal(res.status, 200, `GET ${url}: ${res.status}`)
  assert.match(res.headers.get("content-type"), /^text\/event-stream/)
  const events = []
  const reader = res.body.getReader()
  const dec = new TextDecoder()
  let buf = ""
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buf += dec.decode(value, { stream: true })
        let i
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const ev = { event: "message", id: undefined, data: "" }
          let comment = true
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue
            comment = false
            const [k, ...rest] = line.split(":")
            const v = rest.join(":").replace(/^ /, "")
            if (k === "event") ev.event = v
            else if (k === "id") ev.id = v
            else if (k === "data") ev.data += (ev.data ? "\n" : "") + v
          }
          if (comment) continue
          ev.data = JSON.parse(ev.data)
          events.push(ev)
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") throw e
    }
  })()
  return {
    events,
    /** The first event matching pred (already received or arriving within ms), and its index. */
    next: (pred, ms = 5000) =>
      eventually(
        () => {
          const i = events.findIndex(pred)
          assert.ok(i >= 0, `no matching event among ${JSON.stringify(events.map(e => e.event))}`)
          return { ...events[i], index: i }
        },
        { timeout: ms, interval: 10 }
      ),
    close: async () => {
      ac.abort()
      await pump.catch(() => {})
    },
  }
}

/** Disconnects a repo's WebSocket for good (a peer leaving). */
function disconnect(repo) {
  repo.adapter.connect = () => {}
  repo.adapter.socket?.on?.("error", () => {})
  repo.adapter.disconnect()
}

test("an API edit reaches a connected automerge-repo client within 1 s, and a client's edit shows in GET /api/docs/{id} within 1 s", async () => {
  const weft = await startWeft()
  const created = await createDoc(weft, { title: "Notes", text: "hello", items: [] })
  const repo = newRepo(weft.wsUrl)
  await connected(repo)
  const handle = await withTimeout(repo.find(created.url), 10_000, "repo.find")
  assert.deepEqual(plain(handle.doc()), { title: "Notes", text: "hello", items: [] })

  // API → WebSocket client.
  const edit = await api(
    weft,
    "POST",
    `/api/docs/${created.id}/changes`,
    {
      message: "from the API",
      ops: [
        { op: "splice", path: "/text", pos: 0, del: 0, insert: "Hi " },
        { op: "set", path: "/title", value: "Shared notes" },
        { op: "insert", path: "/items/-", value: { done: false } },
      ],
    },
    { expect: 200 }
  )
  assert.equal(edit.body.changed, true)
  await eventually(
    () => assert.deepEqual(plain(handle.doc()), { title: "Shared notes", text: "Hi hello", items: [{ done: false }] }),
    { timeout: 1000, interval: 10, message: "the API edit did not reach the client within 1 s" }
  )
  await eventually(() => assert.deepEqual(hexHeads(handle), headsList(edit.body.heads)), { timeout: 1000, interval: 10 })

  // WebSocket client → API.
  handle.change(d => {
    A.splice(d, ["text"], d.text.length, 0, "!")
    d.items[0].done = true
  })
  const want = plain(handle.doc())
  const got = await eventually(
    async () => {
      const r = await api(weft, "GET", `/api/docs/${created.id}`, undefined, { expect: 200 })
      assert.deepEqual(r.body, want)
      return r
    },
    { timeout: 1000, interval: 10, message: "the client's edit did not show in GET within 1 s" }
  )
  assert.deepEqual(headsList(got.headers.get("x-weft-heads")), hexHeads(handle))
  assert.equal(got.headers.get("etag"), `"${got.headers.get("x-weft-heads")}"`)
})

test("HTTP sync (@automerge/automerge's sync functions over POST /api/docs/{id}/sync) converges with a WebSocket client", async () => {
  const weft = await startWeft()
  const repo = newRepo(weft.wsUrl)
  await connected(repo)
  const handle = repo.create({ text: "start", items: [] })
  await uploaded(repo, handle)

  const client = new HttpSyncClient({ url: weft.url, documentId: handle.documentId, wait: 10 })
  const errors = []
  client.onError = e => errors.push(e)
  try {
    // The initial sync, in the foreground, then the background loop with long polls.
    await withTimeout(client.syncNow(), 10_000, "initial HTTP sync")
    assert.deepEqual(plain(client.doc), { text: "start", items: [] })
    assert.deepEqual(client.heads(), hexHeads(handle))
    client.start()

    // HTTP → WebSocket.
    client.change(d => {
      A.splice(d, ["text"], 0, 0, "http: ")
      d.items.push("h0")
    }, "from HTTP sync")
    await eventually(() => assert.deepEqual(plain(handle.doc()), { text: "http: start", items: ["h0"] }), {
      timeout: 2000,
      interval: 10,
    })

    // WebSocket → HTTP (arrives through the pending long poll).
    handle.change(d => {
      A.splice(d, ["text"], d.text.length, 0, " :ws")
      d.items.push("w0")
    })
    await eventually(() => assert.deepEqual(plain(client.doc), plain(handle.doc())), { timeout: 2000, interval: 10 })

    // Concurrent edits on both sides.
    for (let i = 1; i <= 20; i++) {
      client.change(d => {
        d.items.push(`h${i}`)
        A.splice(d, ["text"], 0, 0, "h")
      })
      handle.change(d => {
        d.items.push(`w${i}`)
        A.splice(d, ["text"], d.text.length, 0, "w")
      })
      if (i % 5 === 0) await new Promise(r => setTimeout(r, 20))
    }
    await eventually(
      async () => {
        assert.deepEqual(client.heads(), hexHeads(handle), "HTTP and WebSocket heads differ")
        const r = await api(weft, "GET", `/api/docs/${handle.documentId}`, undefined, { expect: 200 })
        assert.deepEqual(headsList(r.headers.get("x-weft-heads")), hexHeads(handle), "server heads differ")
      },
      { timeout: 10_000, interval: 50, message: "HTTP sync and WebSocket did not converge" }
    )
    const doc = plain(client.doc)
    assert.deepEqual(doc, plain(handle.doc()))
    assert.equal(doc.items.length, 42)
    for (let i = 0; i <= 20; i++) assert.ok(doc.items.includes(`h${i}`) && doc.items.includes(`w${i}`), `item ${i} missing`)
    assert.equal(doc.text, "h".repeat(20) + "http: start :ws" + "w".repeat(20))
    assert.deepEqual(client.errors, [])
    assert.deepEqual(errors, [], `HTTP sync errors: ${errors.join("; ")}`)
  } finally {
    await client.stop()
  }
})

test("SSE: change events in order with heads, actor, time and message (API and WebSocket edits), join and leave", async () => {
  const weft = await startWeft()
  const created = await createDoc(weft, { text: "" }, "created")
  const sse = await openEvents(`${weft.url}/api/docs/${created.id}/events`)
  try {
    const ready = await sse.next(e => e.event === "ready")
    assert.equal(ready.index, 0, "ready comes first")
    assert.deepEqual(ready.data, { documentId: created.id, heads: created.heads })

    // Two API edits.
    const before = Date.now()
    const edits = []
    for (const msg of ["api edit 1", "api edit 2"]) {
      const r = await api(
        weft,
        "POST",
        `/api/docs/${created.id}/changes`,
        { message: msg, ops: [{ op: "splice", path: "/text", pos: 0, del: 0, insert: msg + ";" }] },
        { expect: 200 }
      )
      edits.push(r.body.heads)
    }
    const c1 = await sse.next(e => e.event === "change" && e.data.changes?.some(c => c.message === "api edit 1"))
    const c2 = await sse.next(e => e.event === "change" && e.data.changes?.some(c => c.message === "api edit 2"))
    assert.ok(c1.index < c2.index, "change events out of order")
    for (const [ev, heads] of [
      [c1, edits[0]],
      [c2, edits[1]],
    ]) {
      assert.equal(ev.data.type, "change")
      assert.equal(ev.data.documentId, created.id)
      assert.equal(ev.data.heads, heads)
      assert.equal(ev.id, heads, "the SSE id is the heads")
      const [change] = ev.data.changes
      assert.deepEqual([change.hash], headsList(heads))
      assert.match(change.actor, /^[0-9a-f]+$/)
      assert.ok(change.seq >= 1)
      const t = Date.parse(change.time)
      assert.ok(t >= Math.floor(before / 1000) * 1000 - 1000 && t <= Date.now() + 1000, `change time ${change.time}`)
      assert.ok(Math.abs(Date.parse(ev.data.time) - Date.now()) < 60_000)
    }
    assert.deepEqual(c2.data.changes[0].deps, c1.data.heads)

    // A WebSocket client opens the document (join), edits it (change), leaves (leave).
    const repo = newRepo(weft.wsUrl)
    await connected(repo)
    const handle = await withTimeout(repo.find(created.url), 10_000, "repo.find")
    const join = await sse.next(e => e.event === "join" && e.data.peerId === repo.peerId)
    assert.equal(join.data.type, "join")
    assert.equal(join.data.documentId, created.id)

    handle.change(d => A.splice(d, ["text"], 0, 0, "ws;"), { message: "ws edit" })
    const c3 = await sse.next(e => e.event === "change" && e.data.changes?.some(c => c.message === "ws edit"))
    assert.ok(c2.index < c3.index)
    assert.deepEqual(headsList(c3.data.heads), hexHeads(handle))
    const wsChange = c3.data.changes.find(c => c.message === "ws edit")
    assert.equal(wsChange.actor, A.getActorId(handle.doc()))
    assert.ok(Math.abs(Date.parse(wsChange.time) - Date.now()) < 60_000, `change time ${wsChange.time}`)

    disconnect(repo)
    const leave = await sse.next(e => e.event === "leave" && e.data.peerId === repo.peerId)
    assert.ok(leave.index > join.index)
    assert.equal(leave.data.documentId, created.id)

    // Change events arrived in the order of the edits, and nothing but known types.
    const changeMessages = sse.events.filter(e => e.event === "change").flatMap(e => e.data.changes.map(c => c.message))
    assert.deepEqual(changeMessages, ["api edit 1", "api edit 2", "ws edit"])
    for (const e of sse.events) assert.ok(["ready", "change", "join", "leave"].includes(e.event), e.event)
  } finally {
    await sse.close()
  }
})

test("?at= returns exactly the document at that version, and a restore is a new change in the history", async () => {
  const weft = await startWeft()
  const created = await createDoc(weft, { title: "v0", text: "one", items: [1] }, "version 0")
  const id = created.id
  const states = [(await api(weft, "GET", `/api/docs/${id}`, undefined, { expect: 200 })).body]
  const heads = [created.heads]
  const ops = [
    [
      { op: "set", path: "/title", value: "v1" },
      { op: "splice", path: "/text", pos: 3, del: 0, insert: " two" },
      { op: "set", path: "/n", value: 5, type: "counter" },
    ],
    [
      { op: "delete", path: "/title" },
      { op: "splice", path: "/items", pos: 0, del: 1, values: [2, 3] },
      { op: "increment", path: "/n", by: 2 },
    ],
  ]
  for (const [i, o] of ops.entries()) {
    const r = await api(weft, "POST", `/api/docs/${id}/changes`, { message: `version ${i + 1}`, ops: o }, { expect: 200 })
    heads.push(r.body.heads)
    states.push((await api(weft, "GET", `/api/docs/${id}`, undefined, { expect: 200 })).body)
  }
  assert.deepEqual(states[1], { title: "v1", text: "one two", items: [1], n: 5 })
  assert.deepEqual(states[2], { text: "one two", items: [2, 3], n: 7 })

  // The server's view at each version equals what it returned then, and what Automerge itself
  // computes from the downloaded file.
  const bin = await fetch(`${weft.url}/api/docs/${id}/binary`)
  assert.equal(bin.status, 200)
  const doc = A.load(new Uint8Array(await bin.arrayBuffer()))
  for (const [i, h] of heads.entries()) {
    const r = await api(weft, "GET", `/api/docs/${id}?at=${h}`, undefined, { expect: 200 })
    assert.deepEqual(r.body, states[i], `at version ${i}`)
    assert.deepEqual(r.body, plain(A.view(doc, headsList(h))), `Automerge's view at version ${i}`)
    assert.equal(r.headers.get("etag"), `"${h}"`)
    assert.match(r.headers.get("cache-control"), /immutable/)
    const text = await fetch(`${weft.url}/api/docs/${id}/text?at=${h}`)
    assert.equal(await text.text(), states[i].text)
  }

  // Restore version 0.
  const before = (await api(weft, "GET", `/api/docs/${id}/history`, undefined, { expect: 200 })).body
  assert.equal(before.total, 3)
  const restored = await api(weft, "POST", `/api/docs/${id}/restore`, { heads: heads[0], message: "back to v0" }, { expect: 200 })
  assert.equal(restored.body.changed, true)
  assert.notEqual(restored.body.heads, heads[0], "a restore is a new change, not a rewind")
  assert.deepEqual((await api(weft, "GET", `/api/docs/${id}`, undefined, { expect: 200 })).body, states[0])

  const after = (await api(weft, "GET", `/api/docs/${id}/history`, undefined, { expect: 200 })).body
  assert.equal(after.total, 4)
  const [newest, ...rest] = after.changes
  assert.equal(newest.hash, restored.body.heads)
  assert.equal(newest.message, "back to v0")
  assert.equal(newest.deps, heads[2], "the restore follows the latest version")
  assert.deepEqual(
    rest.map(c => c.hash),
    before.changes.map(c => c.hash),
    "the history before the restore is kept"
  )
  assert.deepEqual(
    rest.map(c => c.message),
    ["version 2", "version 1", "version 0"]
  )
  // The versions in between are still readable.
  assert.deepEqual((await api(weft, "GET", `/api/docs/${id}?at=${heads[2]}`, undefined, { expect: 200 })).body, states[2])
})
