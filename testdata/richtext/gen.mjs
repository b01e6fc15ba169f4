// Generates doc.automerge: a rich-text document as the weft editor
// (@automerge/prosemirror) stores it: {title: Text, text: Text with block
// markers and marks}. Run from this folder: node gen.mjs
// It uses @automerge/automerge from ../e2e/node_modules (npm ci there first).
import { createRequire } from "node:module"
import { writeFileSync } from "node:fs"
const require = createRequire(new URL("../e2e/package.json", import.meta.url))
const A = require("@automerge/automerge")

// Fixed actor and time so the bytes are reproducible.
let doc = A.from({ title: "Notes", text: "" }, { actor: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" })
const opts = { time: 1700000000 }
doc = A.change(doc, { ...opts, message: "blocks" }, d => {
  A.splitBlock(d, ["text"], 0, { type: "heading", parents: [], attrs: { level: 1 } })
  A.splice(d, ["text"], 1, 0, "Hello")
  A.splitBlock(d, ["text"], 6, { type: "paragraph", parents: [], attrs: {} })
  A.splice(d, ["text"], 7, 0, "world of weft")
  A.mark(d, ["text"], { start: 7, end: 12, expand: "after" }, "strong", true)
  A.splitBlock(d, ["text"], 20, { type: "list_item", parents: ["bullet_list"], attrs: {} })
  A.splice(d, ["text"], 21, 0, "item")
})
writeFileSync(new URL("doc.automerge", import.meta.url), A.save(doc))
const expect = {
  spans: A.spans(doc, ["text"]),
  text: doc.text,
  title: doc.title,
}
writeFileSync(new URL("expect.json", import.meta.url), JSON.stringify(expect, null, 2) + "\n")
console.log(JSON.stringify(expect, null, 1))
