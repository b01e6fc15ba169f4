// The reference sync server, as automerge-repo-sync-server v0.3.0 builds it: a Repo
// with NodeWSServerAdapter, nodefs storage (a fresh temp dir) and sharePolicy → false.
// Usage: node server.mjs [port]   (or PORT=...; 0 = any free port). Loopback only.
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const port = Number(process.argv[2] ?? process.env.PORT ?? 3030)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "weft-refserver-"))
const wss = new WebSocketServer({ host: "127.0.0.1", port })
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `storage-server-${os.hostname()}`,
  sharePolicy: async () => false,
})
wss.on("listening", () => console.log(`refserver: listening on ws://127.0.0.1:${wss.address().port}/`))
const stop = () => { fs.rmSync(dir, { recursive: true, force: true }); process.exit(0) }
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
