import * as A from "@automerge/automerge/slim"
import { sameHeads } from "./heads"
import type { LocalState } from "./localsave"
import type { ConnectionInfo } from "./net/adapter"

/**
 * Whether the server's history contains every change this browser has.
 *
 * `serverHeads` are the heads the server announced in its latest sync message to us (automerge
 * sends its current heads in every sync message, and after applying our changes it acknowledges
 * with its new heads). The server has all of ours when every change we hold is an ancestor of (or
 * equal to) one of the server's heads. If the server names a head we do not know yet, we cannot
 * tell — that change is on its way to us — and we answer false until it arrives.
 */
export function serverHasLocalChanges(doc: A.Doc<unknown>, serverHeads: readonly string[] | undefined): boolean {
  if (!serverHeads) return false
  const local = A.getHeads(doc)
  if (sameHeads(local, serverHeads)) return true
  if (serverHeads.length === 0) return local.length === 0
  if (A.getMissingDeps(doc, serverHeads as A.Heads).length > 0) return false
  return A.getChangesMetaSince(doc, serverHeads as A.Heads).length === 0
}

export type SyncState = "saved" | "unsynced"

export interface Status {
  connection: ConnectionInfo["state"]
  sync: SyncState
  /** Short label for the connection, e.g. "Connected", "Reconnecting in 4 s". */
  connectionText: string
  /** Short label for the document, "Saved to server" or "Unsynced changes". */
  syncText: string
  /** Whether this browser's stored copy has every change (see src/localsave.ts). */
  local: LocalState
  /** Short label for that: "" when stored, "Saving on this device…", "Not saved on this device". */
  localText: string
  /** A sentence for a tooltip. */
  detail: string
}

export interface StatusInput {
  connection: ConnectionInfo
  /** The server's heads contain every local change (see {@link serverHasLocalChanges}). */
  savedOnServer: boolean
  /** Whether the changes are in this browser's storage yet; "saved" when not given. */
  local?: LocalState
  /** Now, in ms since epoch (for the retry countdown). */
  now: number
}

/** The status line shown above the document. Pure: everything it needs comes in `input`. */
export function computeStatus(input: StatusInput): Status {
  const { connection, savedOnServer, now } = input
  const local = input.local ?? "saved"
  const sync: SyncState = savedOnServer ? "saved" : "unsynced"
  let connectionText: string
  let detail: string
  switch (connection.state) {
    case "connected":
      connectionText = "Connected"
      detail = savedOnServer
        ? "Every change in this browser is stored on the server."
        : "Sending your changes to the server…"
      break
    case "connecting":
      connectionText = "Connecting…"
      detail = "Connecting to the server."
      break
    case "reconnecting": {
      const secs = connection.nextRetryAt ? Math.max(0, Math.ceil((connection.nextRetryAt - now) / 1000)) : 0
      connectionText = secs > 0 ? `Reconnecting in ${secs} s` : "Reconnecting…"
      detail = "The connection to the server was lost. Your edits are kept in this browser and sent when it is back."
      break
    }
    case "offline":
      connectionText = "Offline"
      detail = "No network. Your edits are kept in this browser and sent when you are back online."
      break
    case "refused":
      connectionText = "Disconnected"
      detail = `The server refused the connection${connection.reason ? `: ${connection.reason}` : ""}.`
      break
  }
  // Offline, the edits are safe only once they are stored here: say so while they are not.
  if (local === "failed") {
    detail += savedOnServer
      ? " This browser could not store the latest changes (they are on the server)."
      : " This browser could not store your latest changes: keep this page open until they reach the server."
  } else if (local === "saving" && !savedOnServer) {
    detail += " Storing your latest changes in this browser…"
  }
  return {
    connection: connection.state,
    sync,
    connectionText,
    syncText: savedOnServer ? "Saved to server" : "Unsynced changes",
    local,
    localText: local === "saved" ? "" : local === "saving" ? "Saving on this device…" : "Not saved on this device",
    detail,
  }
}
