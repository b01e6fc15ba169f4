// Package backup is weft export, weft import and weft backup, on both
// sides: the commands (against a stopped node's data file or through a
// running node's HTTP API) and the handler behind GET /api/backup.
//
// An export is a tar stream: one entry "<documentId>.automerge" per
// document (its stored chunks concatenated: a valid Automerge file that
// Automerge.load reads), then "manifest.json" (see Manifest), last,
// so that an import can tell a complete archive from a truncated one.
// Import merges each file into the target's document, so importing twice,
// or into a node that already has the documents, is harmless.
//
// A backup is a copy of the whole bbolt file, consistent as of one read
// transaction (bbolt Tx.WriteTo), which `weft serve --data` opens as is.
//
// --data works on a data directory (or its weft.db) that no server holds;
// --server talks to a running node through its HTTP API.
//
// Mutable state: Handler's one-backup-at-a-time slot, a channel of one.
// A command's exporter, progress and output file belong to the command's
// goroutine.
package backup
