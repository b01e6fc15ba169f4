// Shared helpers of the weft end-to-end suite.
//
// The server under test is the built binary (WEFT_BIN, default ../../bin/weft relative to
// testdata/e2e). Clients are unmodified @automerge/automerge-repo 2.5.6 Repos with the 2.5.6
// WebSocket client adapter; protocol tests use a raw `ws` socket with the cbor-x encoder the
// Repo uses (PROTOCOL.md §2).
//
// Importing this module registers an afterEach hook (per test file) that
//   - prints the captured stdout/stderr of every weft process started by a test that failed, and
//   - always shuts down the repos, kills the servers, closes raw sockets and removes temp dirs,
// so the runner exits even when a test fails or times out.

import { afterEach, after } from "node:test"
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { setTimeout as sleep } from "node:timers/promises"

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { Encoder, decode } from "cbor-x"
import WebSocket from "ws"

export { sleep }

const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..")

/** Absolute path of the weft binary under test. */
export const WEFT_BIN = resolve(E2E_DIR, process.env.WEFT_BIN || "../../bin/weft")

const LISTEN_RE = /weft: listening on (http:\/\/[^\s]+)/
const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 20_000

// Resources created by the current test, released in reverse order by cleanup().
let resources = []
// weft processes of the current test, for the failure log dump.
let servers = []

function track(name, release, scope) {
  const r = { name, release }
  ;(scope ? scope.resources : resources).push(r)
  return r
}

/**
 * Releases everything the current test created, newest first: repos and raw sockets (made after
 * their server) go before the servers, and temp dirs (made before) after them.
 */
export async function cleanup() {
  const rs = resources
  resources = []
  await releaseAll(rs)
}

async function releaseAll(list) {
  const rs = list.reverse()
  for (const r of rs) {
    try {
      await r.release()
    } catch (e) {
      process.stderr.write(`cleanup of ${r.name} failed: ${e?.stack || e}\n`)
    }
  }
}

afterEach(async t => {
  if (t.passed === false) dumpServerLogs(t.name)
  servers = []
  await cleanup()
})
after(cleanup)

function dumpServerLogs(testName, list = servers) {
  for (const s of list) {
    const name = s.label ?? `weft #${s.index}`
    const lines = s.logText().split("\n")
    const tail = lines.length > 400 ? ["… (" + (lines.length - 400) + " earlier lines)", ...lines.slice(-400)] : lines
    process.stderr.write(
      `\n----- ${name} (${s.argsText}) log for failed test "${testName}" -----\n` +
        tail.join("\n") +
        `\n----- end of ${name} log (exit: ${s.exitText()}) -----\n`
    )
  }
}

/**
 * A scope for resources shared by the tests of a suite (started in its `before` hook): passed as
 * `scope` to startWeft, startNats, newRepo and tempDir, they are not released after each test but
 * by scope.release() (call it in the suite's `after` hook). scope.dumpLogs(testName) prints the
 * logs of its processes (weft and nats-server), as the per-test hook does for a failed test.
 */
export function newScope() {
  const scope = {
    resources: [],
    servers: [],
    release: () => releaseAll(scope.resources.splice(0)),
    dumpLogs: testName => dumpServerLogs(testName, scope.servers),
  }
  return scope
}

/** A fresh temporary directory, removed after the test (or by scope.release()). */
export async function tempDir(prefix = "weft-e2e-", { scope } = {}) {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  track(`temp dir ${dir}`, () => rm(dir, { recursive: true, force: true }), scope)
  return dir
}

let serverCount = 0

/**
 * Starts `weft serve --addr 127.0.0.1:0 --data DIR` (or the given --addr inside args) and waits
 * for its "weft: listening on http://HOST:PORT" line.
 *
 * Returns { url, wsUrl, port, addr, proc, dataDir, exited, logText(), stop(signal), kill9() }.
 *   stop(signal = "SIGTERM") resolves to { code, signal } once the process has exited.
 *   kill9() sends SIGKILL and resolves once the process has exited.
 *   exited is a promise of { code, signal }.
 * With `scope` (newScope()), the process and its temp dir belong to the scope, not to the test.
 */
export async function startWeft({ dataDir, args = [], addr, scope } = {}) {
  if (!existsSync(WEFT_BIN)) {
    throw new Error(
      `weft binary not found at ${WEFT_BIN}: build it (make build) or set WEFT_BIN to its path`
    )
  }
  if (!dataDir) dataDir = await tempDir("weft-data-", { scope })
  const hasAddr = args.includes("--addr")
  const argv = [
    "serve",
    ...(hasAddr ? [] : ["--addr", addr ?? "127.0.0.1:0"]),
    "--data",
    dataDir,
    "--log-level",
    "debug",
    ...args,
  ]
  const index = ++serverCount
  const chunks = []
  const proc = spawn(WEFT_BIN, argv, { stdio: ["ignore", "pipe", "pipe"] })
  let exitInfo = null
  const exited = new Promise(res => {
    proc.on("exit", (code, signal) => {
      exitInfo = { code, signal }
      res(exitInfo)
    })
  })
  const spawnError = new Promise((_, rej) => proc.on("error", rej))
  spawnError.catch(() => {})

  const server = {
    index,
    argsText: argv.join(" "),
    proc,
    dataDir,
    exited,
    logText: () => Buffer.concat(chunks).toString("utf8"),
    exitText: () => (exitInfo ? JSON.stringify(exitInfo) : "still running"),
  }
  ;(scope ? scope.servers : servers).push(server)

  let stdoutBuf = ""
  const listening = new Promise((res, rej) => {
    proc.stdout.on("data", d => {
      chunks.push(Buffer.from(d))
      stdoutBuf += d.toString("utf8")
      const m = LISTEN_RE.exec(stdoutBuf)
      if (m) res(m[1])
    })
    exited.then(e =>
      rej(new Error(`weft exited before listening (${JSON.stringify(e)}):\n${server.logText()}`))
    )
  })
  proc.stderr.on("data", d => chunks.push(Buffer.from(d)))

  const stop = async (signal = "SIGTERM", timeout = STOP_TIMEOUT_MS) => {
    if (exitInfo) return exitInfo
    proc.kill(signal)
    const res = await Promise.race([exited, sleep(timeout, null, { ref: false })])
    if (res === null) {
      proc.kill("SIGKILL")
      await exited
      throw new Error(`weft did not exit within ${timeout} ms of ${signal}`)
    }
    return res
  }
  server.stop = stop
  server.kill9 = () => stop("SIGKILL")
  track(
    `weft #${index}`,
    async () => {
      if (!exitInfo) {
        proc.kill("SIGKILL")
        await exited
      }
    },
    scope
  )

  let timer
  const url = await Promise.race([
    listening,
    spawnError,
    new Promise((_, rej) => {
      timer = setTimeout(
        () =>
          rej(
            new Error(
              `weft did not print "weft: listening on http://…" within ${START_TIMEOUT_MS} ms:\n${server.logText()}`
            )
          ),
        START_TIMEOUT_MS
      )
    }),
  ]).finally(() => clearTimeout(timer))

  const u = new URL(url)
  server.url = url.replace(/\/$/, "")
  server.port = Number(u.port)
  server.addr = `${u.hostname}:${u.port}`
  server.wsUrl = `ws://${u.host}/`
  return server
}

/** An in-memory automerge-repo storage adapter (a real adapter, kept in this process). */
export class MemoryStorageAdapter {
  #data = new Map()
  #k = key => key.join("\u0000")
  async load(key) {
    return this.#data.get(this.#k(key))
  }
  async save(key, data) {
    this.#data.set(this.#k(key), data)
  }
  async remove(key) {
    this.#data.delete(this.#k(key))
  }
  async loadRange(prefix) {
    const p = this.#k(prefix)
    const out = []
    for (const [k, data] of this.#data)
      if (k === p || k.startsWith(p + "\u0000")) out.push({ key: k.split("\u0000"), data })
    return out
  }
  async removeRange(prefix) {
    for (const { key } of await this.loadRange(prefix)) this.#data.delete(this.#k(key))
  }
}

/**
 * A Repo connected to wsUrl through the 2.5.6 WebSocketClientAdapter (retry every 5 s, or
 * retryInterval ms). No storage unless `storage: true` (then an in-memory adapter, so the client
 * has a storageId and joins with isEphemeral: false). Shut down after the test.
 *
 * repo.closes lists the close events of the adapter's sockets, oldest first: { code, reason, at }
 * (at: Date.now() when it closed).
 */
export function newRepo(wsUrl, { storage = false, peerId, network = true, scope, retryInterval } = {}) {
  const adapter = new WebSocketClientAdapter(wsUrl, retryInterval)
  const closes = []
  const connect = adapter.connect.bind(adapter)
  // The adapter reconnects through this.connect, so every socket it opens is watched.
  adapter.connect = (...args) => {
    connect(...args)
    adapter.socket?.addEventListener("close", e => closes.push({ code: e.code, reason: e.reason, at: Date.now() }))
  }
  const repo = new Repo({
    network: network ? [adapter] : [],
    storage: storage ? new MemoryStorageAdapter() : undefined,
    peerId,
  })
  repo.adapter = adapter
  repo.closes = closes
  track(`repo ${repo.peerId}`, () => shutdownRepo(repo), scope)
  return repo
}

/** Connects a Repo created with `network: false` later (a client coming online). */
export function connectRepo(repo) {
  repo.networkSubsystem.addNetworkAdapter(repo.adapter)
}

async function shutdownRepo(repo) {
  const adapter = repo.adapter
  // 2.5.6: onClose schedules `setTimeout(connect, retryInterval)` that disconnect() does not
  // cancel; make later reconnect attempts no-ops so the test process can exit.
  if (adapter) {
    adapter.connect = () => {}
    if (!adapter.socket) return // never connected, or already disconnected
    // disconnect() removes the adapter's listeners and then closes the socket; closing a socket
    // that is still CONNECTING makes `ws` emit "error", which must not become an uncaught exception.
    adapter.socket.on?.("error", () => {})
  }
  await withTimeout(repo.shutdown(), 5000, "repo.shutdown()")
}

/** Resolves once the repo's adapter has received the server's `peer` message. */
export async function connected(repo, timeout = 10_000) {
  return eventually(
    () => {
      assert.ok(repo.peers.length > 0, `repo ${repo.peerId} has no peer yet`)
      return repo.peers[0]
    },
    { timeout, message: `repo ${repo.peerId} did not connect` }
  )
}

/**
 * Polls fn (sync or async) until it does not throw; returns its value. On timeout, throws the
 * last error (with a note of how long it waited).
 */
export async function eventually(fn, { timeout = 10_000, interval = 50, message } = {}) {
  const deadline = Date.now() + timeout
  let lastErr
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      lastErr = e
    }
    if (Date.now() >= deadline) break
    await sleep(interval)
  }
  const note = `${message ? message + ": " : ""}still failing after ${timeout} ms`
  if (lastErr instanceof Error) {
    lastErr.message = `${note}: ${lastErr.message}`
    throw lastErr
  }
  throw new Error(`${note}: ${String(lastErr)}`)
}

/** Rejects with a clear error if p does not settle within ms. */
export async function withTimeout(p, ms, what) {
  let timer
  try {
    return await Promise.race([
      p,
      new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${what} did not settle within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Plain JSON value of an automerge document (Counters become numbers, Text strings). */
export function plain(doc) {
  return JSON.parse(JSON.stringify(doc))
}

/** Heads of a handle, sorted, for comparisons. */
export function sortedHeads(handle) {
  return [...handle.heads()].sort()
}

// ---------------------------------------------------------------------------------------------
// Raw protocol client

/** The encoder automerge-repo uses (src/helpers/cbor.ts). */
export const encoder = new Encoder({ tagUint8Array: false, useRecords: false })
export const encode = v => encoder.encode(v)
export { decode }

/**
 * A raw WebSocket to the server, recording every message (CBOR-decoded when possible) and the
 * close event. Closed after the test.
 */
export async function rawSocket(wsUrl, { timeout = 5000 } = {}) {
  const ws = new WebSocket(wsUrl)
  ws.binaryType = "nodebuffer"
  const messages = []
  const closed = new Promise(res =>
    ws.on("close", (code, reason) => res({ code, reason: reason.toString("utf8") }))
  )
  ws.on("message", (data, isBinary) => {
    let value
    try {
      value = decode(data)
    } catch (e) {
      value = { $undecodable: Buffer.from(data).toString("hex"), error: String(e) }
    }
    messages.push({ isBinary, value })
  })
  ws.on("error", () => {}) // the close event carries what the tests need
  track("raw socket", () => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate()
  })
  await withTimeout(
    new Promise((res, rej) => {
      ws.once("open", res)
      ws.once("unexpected-response", (_req, r) => rej(new Error(`upgrade refused: HTTP ${r.statusCode}`)))
      ws.once("error", rej)
    }),
    timeout,
    `WebSocket open of ${wsUrl}`
  )
  let closeInfo = null
  closed.then(c => (closeInfo = c))
  return {
    ws,
    messages,
    closed,
    isClosed: () => closeInfo !== null,
    send: value => ws.send(value instanceof Uint8Array ? value : encode(value)),
    /** Waits for a message matching pred (default: any), among those already received too. */
    next: (pred = () => true, ms = 5000) =>
      eventually(
        () => {
          const m = messages.find(m => pred(m.value))
          assert.ok(m, `no matching message; got ${JSON.stringify(messages.map(m => m.value?.type))}`)
          return m.value
        },
        { timeout: ms, interval: 10 }
      ),
  }
}

/** A join message as the 2.5.6 client sends it (PROTOCOL.md §3.1). */
export function joinMessage(senderId, { versions = ["1"], storageId, isEphemeral = true } = {}) {
  return {
    type: "join",
    senderId,
    peerMetadata: { storageId, isEphemeral },
    supportedProtocolVersions: versions,
  }
}

/** A random peer id in the 2.5.6 default form. */
export function randomPeerId() {
  return "peer-" + Math.random().toString(36).slice(4)
}

/** HTTP GET status of url. */
export async function httpStatus(url) {
  const res = await fetch(url)
  await res.arrayBuffer()
  return res.status
}

// ---------------------------------------------------------------------------------------------
// Server acknowledgement, as a 2.5.6 client sees it

/**
 * The storageId the server announced in its `peer` message (PROTOCOL.md §3.2), as the client's
 * Repo recorded it.
 */
export function serverStorageId(repo) {
  const serverPeerId = repo.peers[0]
  assert.ok(serverPeerId, `repo ${repo.peerId} is not connected to the server`)
  const storageId = repo.getStorageIdOfPeer(serverPeerId)
  assert.ok(
    storageId,
    `the server's peer message carried no peerMetadata.storageId (metadata: ${JSON.stringify(
      repo.peerMetadataByPeerId[serverPeerId]
    )})`
  )
  return storageId
}

/**
 * Waits until the server has acknowledged the handle's current heads: the client's sync state
 * for the server (DocHandle.getSyncInfo(serverStorageId), fed by the server's `sync` replies)
 * reports exactly the handle's heads. This is what sync indicators in apps show as "saved".
 */
export async function uploaded(repo, handle, timeout = 10_000) {
  return eventually(
    () => {
      const storageId = serverStorageId(repo)
      const info = handle.getSyncInfo(storageId)
      assert.ok(info, "no sync info from the server yet")
      assert.deepEqual([...info.lastHeads].sort(), sortedHeads(handle), "server heads differ")
    },
    { timeout, message: `server did not acknowledge ${handle.url}` }
  )
}

// ---------------------------------------------------------------------------------------------
// NATS, for the multi-node tests

/**
 * Absolute path of the nats-server binary (NATS_SERVER_BIN; `make test-e2e` builds it from the
 * version go.mod pins), or null when unset: the multi-node tests are then skipped.
 */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN
  ? resolve(E2E_DIR, process.env.NATS_SERVER_BIN)
  : null

const NATS_READY_RE = /Server is ready/

/** A TCP port free on 127.0.0.1 right now (bound to port 0, then released). */
export async function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.unref()
    srv.on("error", rej)
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address()
      srv.close(() => res(port))
    })
  })
}

let natsCount = 0

/**
 * Starts `nats-server -a 127.0.0.1 -p PORT` (a free port unless given) and waits for its
 * "Server is ready" line. Returns { url ("nats://127.0.0.1:PORT"), port, proc, exited, logText(),
 * stop(signal), kill9(), options } like startWeft; killed after the test (or by scope.release()),
 * and its log printed with the weft logs when a test fails.
 *
 * Options for JetStream and clustering (each adds its nats-server flags):
 *   jetstream: true        -js
 *   storeDir               -sd DIR (JetStream's store; pass the same one to restart a server)
 *   serverName             --server_name
 *   clusterName            --cluster_name
 *   clusterPort            --cluster nats://127.0.0.1:PORT (route listener)
 *   routes                 --routes nats://127.0.0.1:P1,… (route ports of the other servers)
 *   monitorPort            -m PORT (HTTP monitoring; jetStreamHealthy() polls its /healthz)
 *   label                  the name in logs ("nats-server #N" by default)
 * `options` in the result holds what was passed (with the port picked), so that
 * startNats(server.options) restarts the same server on the same ports and store.
 */
export async function startNats(options = {}) {
  let { port, args = [], scope } = options
  const { jetstream, storeDir, serverName, clusterName, clusterPort, routes, monitorPort } = options
  if (jetstream) args = [...args, "-js"]
  if (storeDir) args = [...args, "-sd", storeDir]
  if (serverName) args = [...args, "--server_name", serverName]
  if (clusterName) args = [...args, "--cluster_name", clusterName]
  if (clusterPort) args = [...args, "--cluster", `nats://127.0.0.1:${clusterPort}`]
  if (routes?.length) args = [...args, "--routes", routes.map(p => `nats://127.0.0.1:${p}`).join(",")]
  if (monitorPort) args = [...args, "-m", String(monitorPort)]
  if (!NATS_SERVER_BIN) throw new Error("NATS_SERVER_BIN is not set")
  if (!existsSync(NATS_SERVER_BIN)) {
    throw new Error(
      `nats-server binary not found at ${NATS_SERVER_BIN}: build it (make bin/nats-server) or fix NATS_SERVER_BIN`
    )
  }
  if (!port) port = await freePort()
  const argv = ["-a", "127.0.0.1", "-p", String(port), ...args]
  const index = ++natsCount
  const chunks = []
  const proc = spawn(NATS_SERVER_BIN, argv, { stdio: ["ignore", "pipe", "pipe"] })
  let exitInfo = null
  const exited = new Promise(res => {
    proc.on("exit", (code, signal) => {
      exitInfo = { code, signal }
      res(exitInfo)
    })
  })
  const spawnError = new Promise((_, rej) => proc.on("error", rej))
  spawnError.catch(() => {})
  const server = {
    index,
    label: options.label ?? `nats-server #${index}`,
    monitorPort,
    argsText: [NATS_SERVER_BIN, ...argv].join(" "),
    proc,
    port,
    url: `nats://127.0.0.1:${port}`,
    options: { ...options, port },
    exited,
    logText: () => Buffer.concat(chunks).toString("utf8"),
    exitText: () => (exitInfo ? JSON.stringify(exitInfo) : "still running"),
  }
  ;(scope ? scope.servers : servers).push(server)

  let seen = ""
  const ready = new Promise((res, rej) => {
    const onData = d => {
      chunks.push(Buffer.from(d))
      seen += d.toString("utf8")
      if (NATS_READY_RE.test(seen)) res()
    }
    proc.stdout.on("data", onData)
    proc.stderr.on("data", onData)
    exited.then(e =>
      rej(new Error(`nats-server exited before it was ready (${JSON.stringify(e)}):\n${server.logText()}`))
    )
  })
  ready.catch(() => {})

  server.stop = async (signal = "SIGTERM", timeout = STOP_TIMEOUT_MS) => {
    if (exitInfo) return exitInfo
    proc.kill(signal)
    // An unref'd timer: a pending one would keep the test process alive for `timeout` ms.
    const res = await Promise.race([exited, sleep(timeout, null, { ref: false })])
    if (res === null) {
      proc.kill("SIGKILL")
      await exited
      throw new Error(`nats-server did not exit within ${timeout} ms of ${signal}`)
    }
    return res
  }
  server.kill9 = () => server.stop("SIGKILL")
  track(
    server.label,
    async () => {
      if (!exitInfo) {
        proc.kill("SIGKILL")
        await exited
      }
    },
    scope
  )

  await withTimeout(Promise.race([ready, spawnError]), START_TIMEOUT_MS, `nats-server on port ${port} getting ready`).catch(
    e => {
      throw new Error(`${e.message}\n${server.logText()}`)
    }
  )
  return server
}

/**
 * Waits until the nats-server's monitoring endpoint (it must have been started with monitorPort)
 * reports JetStream healthy: GET /healthz answers 200 once JetStream is enabled and, in a
 * cluster, the server knows a meta leader and its streams are current.
 */
export async function jetStreamHealthy(server, { timeout = 20_000 } = {}) {
  assert.ok(server.monitorPort, `${server.label} has no monitoring port`)
  const url = `http://127.0.0.1:${server.monitorPort}/healthz`
  return eventually(
    async () => {
      const res = await fetch(url)
      const body = await res.text()
      assert.equal(res.status, 200, `${server.label} /healthz: ${res.status} ${body}`)
    },
    { timeout, interval: 100, message: `${server.label}: JetStream not healthy` }
  )
}

/**
 * Waits until the JetStream meta leader (among servers, started with monitorPort) reports a
 * cluster of n with every other server current and online. /healthz answers 200 earlier, while
 * the leader may not have heard from every peer yet: a stream created then with 3 replicas fails
 * with "insufficient resources" (and weft caps its replicas below 3).
 */
async function metaLeaderSeesAll(servers, n, timeout) {
  return eventually(
    async () => {
      const metas = await Promise.all(
        servers.map(async s => {
          const res = await fetch(`http://127.0.0.1:${s.monitorPort}/jsz`)
          return { s, meta: (await res.json()).meta_cluster }
        })
      )
      const leader = metas.find(({ s, meta }) => meta?.leader && meta.leader === s.options.serverName)
      assert.ok(leader, `no meta leader yet: ${JSON.stringify(metas.map(m => m.meta?.leader))}`)
      const { meta } = leader
      assert.equal(meta.cluster_size, n, `meta cluster size: ${JSON.stringify(meta)}`)
      const peers = meta.replicas ?? []
      assert.equal(peers.length, n - 1, `meta leader's peers: ${JSON.stringify(peers)}`)
      for (const p of peers) assert.ok(p.current && !p.offline, `meta peer not current: ${JSON.stringify(p)}`)
    },
    { timeout, interval: 100, message: "JetStream meta leader not seeing every server" }
  )
}

/**
 * Starts an n-server nats-server cluster with JetStream (n = 3 by default) on 127.0.0.1: client,
 * route and monitoring ports picked first (every server routes to the others from the start),
 * each server its own store dir (a temp dir of the scope, kept across restarts), server names
 * n1..nN, cluster name `name`. Waits for every "Server is ready" and for JetStream to be healthy
 * on every server.
 *
 * Returns { servers, urls (comma-separated client URLs, for --nats), ports, storeDirs,
 * restart(i), healthy() }: servers[i] is the running (or last) nats-server i, replaced by
 * restart(i), which starts it again on the same ports and store dir.
 */
export async function startNatsCluster({ n = 3, name = "weft-e2e", scope } = {}) {
  const ports = []
  for (let i = 0; i < 3 * n; i++) ports.push(await freePort())
  const client = ports.slice(0, n)
  const route = ports.slice(n, 2 * n)
  const monitor = ports.slice(2 * n)
  const storeDirs = []
  for (let i = 0; i < n; i++) storeDirs.push(await tempDir(`weft-nats${i + 1}-`, { scope }))
  const options = client.map((port, i) => ({
    port,
    scope,
    jetstream: true,
    storeDir: storeDirs[i],
    serverName: `n${i + 1}`,
    label: `nats-server n${i + 1}`,
    clusterName: name,
    clusterPort: route[i],
    routes: route.filter((_, j) => j !== i),
    monitorPort: monitor[i],
  }))
  const cluster = {
    servers: await Promise.all(options.map(o => startNats(o))),
    urls: client.map(p => `nats://127.0.0.1:${p}`).join(","),
    ports: client,
    storeDirs,
    async restart(i) {
      cluster.servers[i] = await startNats(options[i])
      return cluster.servers[i]
    },
    healthy: async (timeout = 20_000) => {
      await Promise.all(cluster.servers.map(s => jetStreamHealthy(s, { timeout })))
      await metaLeaderSeesAll(cluster.servers, n, timeout)
    },
  }
  await cluster.healthy()
  return cluster
}
