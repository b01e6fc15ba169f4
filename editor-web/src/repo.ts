import { Repo, initializeWasm, type PeerId } from "@automerge/automerge-repo/slim"
import { BroadcastChannelNetworkAdapter } from "@automerge/automerge-repo-network-broadcastchannel"
import wasmUrl from "@automerge/automerge/automerge.wasm?url"
import { withToken } from "./auth"
import { IndexedDBStorage } from "./idb"
import { ReconnectingWebSocketAdapter } from "./net/adapter"

let wasm: Promise<void> | null = null

/** Loads the Automerge wasm once (streamed and compiled while the page renders). */
export function loadAutomerge(): Promise<void> {
  wasm ??= initializeWasm(wasmUrl)
  return wasm
}

export interface Client {
  repo: Repo
  adapter: ReconnectingWebSocketAdapter
  /** The server's WebSocket URL. */
  url: string
}

/** The WebSocket URL of a weft server given its page URL (http→ws, https→wss, path "/"). */
export function socketURL(server: string | URL): string {
  const u = new URL(server.toString())
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:"
  u.pathname = "/"
  u.search = ""
  u.hash = ""
  return u.toString()
}

/**
 * The IndexedDB storage the Repo of `scope` keeps its documents in (the layout of
 * automerge-repo-storage-indexeddb, with writes that commit at once: see src/idb.ts).
 */
export function openStorage(scope = "weft"): IndexedDBStorage {
  return new IndexedDBStorage(scope, "documents")
}

/**
 * A Repo that syncs with the weft server at `server` over WebSocket, keeps documents in IndexedDB
 * (they open offline and survive reloads) and syncs directly with other tabs of this browser.
 * `scope` separates the storage and tab channel of different servers on one origin.
 */
export async function createClient(server: string | URL, scope = "weft"): Promise<Client> {
  await loadAutomerge()
  const url = socketURL(server)
  // The page's token (from its address) goes along as ?token=; a weft_token cookie travels by itself.
  // (Only to our own origin: an embedding page's address is not ours to forward.)
  const sameOrigin = typeof location !== "undefined" && new URL(server.toString()).origin === location.origin
  const adapter = new ReconnectingWebSocketAdapter(sameOrigin ? withToken(url) : url)
  const repo = new Repo({
    network: [
      adapter,
      // Other tabs answer within milliseconds; the default wait (1 s) delays every document that
      // is not stored here yet, since the Repo asks the network only when all adapters are ready.
      new BroadcastChannelNetworkAdapter({ channelName: `${scope}:tabs`, peerWaitMs: 150 }),
    ],
    storage: openStorage(scope),
    peerId: `weft-web-${Math.random().toString(36).slice(2, 12)}` as PeerId,
  })
  return { repo, adapter, url }
}
