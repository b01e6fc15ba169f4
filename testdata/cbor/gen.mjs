// Generates CBOR golden files for the automerge-repo WebSocket protocol (PROTOCOL.md §2-§4).
//
// Every message is encoded with exactly the encoder @automerge/automerge-repo@2.5.6 uses
// (src/helpers/cbor.ts): new Encoder({ tagUint8Array: false, useRecords: false }).
// For each case this writes <name>.cbor (the encoded bytes) and <name>.json (the logical value:
// byte strings as {"$bytes": "<hex>"}, undefined as {"$undefined": true}).
//
// Run with `npm ci && npm run gen` in this directory. The outputs are committed golden files.
import { Encoder, decode } from "cbor-x"
import { createHash } from "node:crypto"
import { writeFileSync, readdirSync, unlinkSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import assert from "node:assert/strict"

const here = dirname(fileURLToPath(import.meta.url))
const encoder = new Encoder({ tagUint8Array: false, useRecords: false })

const hex = s => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))

// bs58check (Bitcoin alphabet, 4-byte double-SHA-256 checksum), as AutomergeUrl.ts uses for
// document ids and encoded heads (PROTOCOL.md §4.7).
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
function bs58check(payload) {
  const sha = b => createHash("sha256").update(b).digest()
  const bytes = Buffer.concat([payload, sha(sha(payload)).subarray(0, 4)])
  let n = BigInt("0x" + bytes.toString("hex"))
  let out = ""
  while (n > 0n) {
    out = B58[Number(n % 58n)] + out
    n /= 58n
  }
  for (const b of bytes) {
    if (b !== 0) break
    out = "1" + out
  }
  return out
}

// Fixed identifiers so that regenerating gives byte-identical files.
const CLIENT = "peer-k3j5h2g1f0"
const SERVER = "storage-server-weft"
const STORAGE_ID = "3f9a1c2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b" // a UUID v4
const SERVER_STORAGE_ID = "b1e2c3d4-a5f6-4789-8abc-def012345678"
const DOC = "4NMNnkMhL8jXrdJ9jamS58PAVdXu" // bs58check of f1c29c8474c84adeb800be47627d33bf
assert.equal(bs58check(Buffer.from("f1c29c8474c84adeb800be47627d33bf", "hex")), DOC)
// A change hash (32 bytes) in the bs58check form remote-heads-changed uses.
const HEAD = bs58check(createHash("sha256").update("weft golden head").digest())
// The real JS 3.5.0 `request` payload for a document the client does not have (PROTOCOL.md §4.8).
const REQUEST_DATA = hex("42 00 00 01 00 00 00 02 02 84")
// A tiny ephemeral payload: cbor-x encode({hello: 1}) as handle.broadcast({hello: 1}) sends it.
const EPHEMERAL_DATA = Uint8Array.from(encoder.encode({ hello: 1 }))

const cases = {
  "join-with-storage": {
    type: "join",
    senderId: CLIENT,
    peerMetadata: { storageId: STORAGE_ID, isEphemeral: false },
    supportedProtocolVersions: ["1"],
  },
  "join-without-storage": {
    type: "join",
    senderId: CLIENT,
    peerMetadata: { storageId: undefined, isEphemeral: true },
    supportedProtocolVersions: ["1"],
  },
  peer: {
    type: "peer",
    senderId: SERVER,
    peerMetadata: { storageId: SERVER_STORAGE_ID, isEphemeral: false },
    selectedProtocolVersion: "1",
    targetId: CLIENT,
  },
  sync: {
    type: "sync",
    senderId: CLIENT,
    targetId: SERVER,
    documentId: DOC,
    data: REQUEST_DATA,
  },
  request: {
    type: "request",
    senderId: CLIENT,
    targetId: SERVER,
    documentId: DOC,
    data: REQUEST_DATA,
  },
  "doc-unavailable": {
    type: "doc-unavailable",
    senderId: SERVER,
    targetId: CLIENT,
    documentId: DOC,
  },
  ephemeral: {
    type: "ephemeral",
    senderId: CLIENT,
    targetId: SERVER,
    documentId: DOC,
    count: 7,
    sessionId: "k2x9q8w7e6r5",
    data: EPHEMERAL_DATA,
  },
  "ephemeral-large-count": {
    type: "ephemeral",
    senderId: CLIENT,
    targetId: SERVER,
    documentId: DOC,
    count: 2 ** 31 + 5,
    sessionId: "k2x9q8w7e6r5",
    data: EPHEMERAL_DATA,
  },
  "remote-heads-changed": {
    type: "remote-heads-changed",
    senderId: CLIENT,
    targetId: SERVER,
    documentId: DOC,
    newHeads: {
      [SERVER_STORAGE_ID]: {
        // bs58check-encoded change hashes (AutomergeUrl.ts encodeHeads)
        heads: [HEAD],
        timestamp: 1764000000123, // Date.now()-like; cbor-x writes it as float64 (fb ...)
      },
    },
  },
  "remote-subscription-change": {
    type: "remote-subscription-change",
    senderId: CLIENT,
    targetId: SERVER,
    add: ["x"],
    remove: undefined,
  },
  // Legacy: 2.5.6 clients never send it (PROTOCOL.md §3.4); a server accepts and ignores it.
  leave: {
    type: "leave",
    senderId: CLIENT,
  },
  error: {
    type: "error",
    senderId: SERVER,
    message: "unsupported protocol version",
    targetId: CLIENT,
  },
}

// Logical value → JSON with explicit markers for the types JSON lacks.
function toJSON(v) {
  if (v === undefined) return { $undefined: true }
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString("hex") }
  if (Array.isArray(v)) return v.map(toJSON)
  if (v !== null && typeof v === "object") {
    const out = {}
    for (const [k, x] of Object.entries(v)) out[k] = toJSON(x)
    return out
  }
  return v
}

// Remove stale outputs so a renamed case leaves nothing behind.
for (const f of readdirSync(here)) {
  if (/\.(cbor|json)$/.test(f) && f !== "package.json" && f !== "package-lock.json") unlinkSync(join(here, f))
}

for (const [name, value] of Object.entries(cases)) {
  const bytes = encoder.encode(value)
  // Round trip through the decoder automerge-repo uses (plain cbor-x decode).
  assert.deepEqual(toJSON(decode(bytes)), toJSON(value), `${name}: round trip`)
  writeFileSync(join(here, `${name}.cbor`), bytes)
  writeFileSync(join(here, `${name}.json`), JSON.stringify(toJSON(value), null, 2) + "\n")
  console.log(`${name}.cbor  ${bytes.length} bytes  ${Buffer.from(bytes).toString("hex")}`)
}
