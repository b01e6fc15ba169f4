import * as A from "@automerge/automerge"
import { Repo, type DocHandle } from "@automerge/automerge-repo"
import { pmDocFromSpans, syncPlugin } from "@automerge/prosemirror"
import { baseKeymap, chainCommands } from "prosemirror-commands"
import { history, undo } from "prosemirror-history"
import { splitListItem } from "prosemirror-schema-list"
import { EditorState, TextSelection, type Command } from "prosemirror-state"
import { describe, expect, it } from "vitest"
import { commands, setBlockKind } from "../../src/editor/commands"
import type { WeftDoc } from "../../src/editor/editor"
import { TEXT_PATH, amIndexToPm, cursorsToPm, pmToAmIndex, selectionToCursors, spansOf } from "../../src/editor/positions"
import { normalizeHref, safeHref, schema, schemaAdapter } from "../../src/editor/schema"

/** An editor state bound to a fresh document through @automerge/prosemirror's sync plugin (no view needed for local edits). */
function setup(text = "") {
  const repo = new Repo({ network: [] })
  const handle = repo.create<WeftDoc>({ title: "", text })
  let state = EditorState.create({
    schema,
    doc: pmDocFromSpans(schemaAdapter, A.spans(handle.doc(), TEXT_PATH)),
    plugins: [history(), syncPlugin({ adapter: schemaAdapter, handle, path: TEXT_PATH })],
  })
  const run = (cmd: Command, name = cmd.name) => {
    const ok = cmd(state, tr => (state = state.apply(tr)))
    if (!ok) throw new Error(`command ${name} not applicable at ${JSON.stringify(state.selection)} in ${state.doc}`)
  }
  const type = (s: string) => {
    state = state.apply(state.tr.insertText(s))
  }
  const selectText = (needle: string) => {
    let found = -1
    state.doc.descendants((n, pos) => {
      if (found < 0 && n.isText && n.text!.includes(needle)) found = pos + n.text!.indexOf(needle)
    })
    expect(found).toBeGreaterThanOrEqual(0)
    state = state.apply(state.tr.setSelection(TextSelection.create(state.doc, found, found + needle.length)))
  }
  const enter = () => run(chainCommands(splitListItem(schema.nodes.list_item), baseKeymap.Enter))
  return {
    handle: handle as DocHandle<WeftDoc>,
    get state() {
      return state
    },
    set state(s) {
      state = s
    },
    run,
    type,
    selectText,
    enter,
    /** The document as another client would render it from Automerge alone. */
    fromAutomerge: () => pmDocFromSpans(schemaAdapter, A.spans(handle.doc(), TEXT_PATH)),
  }
}

describe("rich text reaches Automerge", () => {
  it("typing into a new, empty document", () => {
    const t = setup()
    t.type("Hello")
    expect(t.handle.doc().text).toContain("Hello")
    expect(t.fromAutomerge().textContent).toBe("Hello")
  })

  it("bold, italic, inline code and links are Automerge marks", () => {
    const t = setup()
    t.type("bold italic code link")
    t.selectText("bold")
    t.run(commands.bold)
    t.selectText("italic")
    t.run(commands.italic)
    t.selectText("code")
    t.run(commands.code)
    t.selectText("link")
    t.state = t.state.apply(t.state.tr.addMark(t.state.selection.from, t.state.selection.to, schema.marks.link.create({ href: "https://example.com" })))
    const marks = A.marks(t.handle.doc(), TEXT_PATH).map(m => m.name).sort()
    expect(marks).toEqual(["code", "em", "link", "strong"])
    const other = t.fromAutomerge()
    expect(other.toString()).toBe(t.state.doc.toString())
    let href = ""
    other.descendants(n => {
      const link = n.marks.find(m => m.type === schema.marks.link)
      if (link) href = link.attrs.href
    })
    expect(href).toBe("https://example.com")
  })

  it("headings, lists, quotes and code blocks are Automerge blocks", () => {
    const t = setup()
    t.type("Title")
    t.run(setBlockKind("h2"))
    t.enter()
    t.type("item one")
    t.run(commands.bulletList)
    t.enter()
    t.type("item two")
    t.enter()
    t.run(commands.bulletList) // leaves the list
    t.type("numbered")
    t.run(commands.orderedList)
    t.enter()
    t.run(commands.orderedList)
    t.type("quoted")
    t.run(commands.blockquote)
    t.enter()
    t.run(commands.blockquote)
    t.type("let x = 1")
    t.run(commands.codeBlock)

    const blocks = A.spans(t.handle.doc(), TEXT_PATH)
      .filter(s => s.type === "block")
      .map(s => String((s.value as { type: unknown }).type))
    expect(blocks).toEqual(
      expect.arrayContaining(["heading", "unordered-list-item", "ordered-list-item", "blockquote", "code-block"]),
    )
    const other = t.fromAutomerge()
    expect(other.toString()).toBe(t.state.doc.toString())
    const names: string[] = []
    other.descendants(n => {
      names.push(n.type.name)
    })
    expect(names).toEqual(expect.arrayContaining(["heading", "bullet_list", "ordered_list", "blockquote", "code_block"]))
    expect(other.firstChild?.attrs.level).toBe(2)
  })

  it("undo reverts my change in Automerge too", () => {
    const t = setup()
    t.type("keep")
    t.state = t.state.apply(t.state.tr.setMeta("addToHistory", true))
    const before = t.handle.doc().text
    t.selectText("keep")
    t.run(commands.bold)
    expect(A.marks(t.handle.doc(), TEXT_PATH).length).toBe(1)
    t.run(undo)
    expect(A.marks(t.handle.doc(), TEXT_PATH).length).toBe(0)
    expect(t.handle.doc().text).toBe(before)
  })
})

describe("positions and cursors", () => {
  function structured() {
    const t = setup()
    t.type("Heading")
    t.run(setBlockKind("h1"))
    t.enter()
    t.type("para one")
    t.enter()
    t.type("item")
    t.run(commands.bulletList)
    return t
  }

  it("round-trips every caret position in a text block", () => {
    const t = structured()
    const spans = spansOf(t.handle.doc())
    const doc = t.state.doc
    let checked = 0
    for (let pos = 0; pos <= doc.content.size; pos++) {
      if (!doc.resolve(pos).parent.isTextblock) continue
      expect(amIndexToPm(spans, pmToAmIndex(spans, pos), doc)).toBe(pos)
      checked++
    }
    expect(checked).toBeGreaterThan(15)
  })

  it("keeps a remote caret on its character while text is inserted before it", () => {
    const t = structured()
    let at = -1
    t.state.doc.descendants((n, pos) => {
      if (at < 0 && n.isText && n.text!.includes("one")) at = pos + n.text!.indexOf("one")
    })
    const doc0 = t.handle.doc()
    const cur = selectionToCursors(doc0, spansOf(doc0), at, at)
    // Someone types at the very start of the document.
    t.state = t.state.apply(t.state.tr.setSelection(TextSelection.create(t.state.doc, 1)))
    t.type("Big ")
    const doc1 = t.handle.doc()
    const pos = cursorsToPm(doc1, spansOf(doc1), cur, t.state.doc)!
    expect(pos.anchor).toBe(at + 4)
    expect(t.state.doc.textBetween(pos.anchor, pos.anchor + 3)).toBe("one")
  })

  it("keeps a caret at the end of a block there when someone starts a new block after it", () => {
    const t = structured()
    const end = t.state.doc.child(1).nodeSize + t.state.doc.child(0).nodeSize - 1 // end of "para one"
    expect(t.state.doc.textBetween(end - 3, end)).toBe("one")
    const doc0 = t.handle.doc()
    const cur = selectionToCursors(doc0, spansOf(doc0), end, end)
    t.state = t.state.apply(t.state.tr.setSelection(TextSelection.create(t.state.doc, end)))
    t.enter()
    t.type("inserted after")
    const doc1 = t.handle.doc()
    const pos = cursorsToPm(doc1, spansOf(doc1), cur, t.state.doc)!
    expect(t.state.doc.textBetween(pos.head - 3, pos.head)).toBe("one")
    expect(t.state.doc.resolve(pos.head).parent.textContent).toBe("para one")
  })

  it("keeps a caret at the very start of the document", () => {
    const t = structured()
    const doc0 = t.handle.doc()
    const cur = selectionToCursors(doc0, spansOf(doc0), 1, 1)
    t.state = t.state.apply(t.state.tr.setSelection(TextSelection.create(t.state.doc, 1)))
    t.type("Big ")
    const doc1 = t.handle.doc()
    expect(cursorsToPm(doc1, spansOf(doc1), cur, t.state.doc)!.head).toBe(1)
  })

  it("falls back to where the character was when it is deleted", () => {
    const t = structured()
    let at = -1
    t.state.doc.descendants((n, pos) => {
      if (at < 0 && n.isText && n.text === "para one") at = pos + 6 // after "para o"
    })
    const doc0 = t.handle.doc()
    const cur = selectionToCursors(doc0, spansOf(doc0), at, at)
    t.state = t.state.apply(t.state.tr.delete(at - 3, at)) // "para one" -> "parne": the caret's character is gone
    const doc1 = t.handle.doc()
    const pos = cursorsToPm(doc1, spansOf(doc1), cur, t.state.doc)!
    expect(t.state.doc.resolve(pos.head).parent.textContent).toBe("parne")
    expect(pos.head).toBe(at - 3)
  })

  it("returns null for a cursor into changes we have not received", () => {
    const t = structured()
    const other = A.change(A.clone(t.handle.doc()), d => A.splice(d, ["text"], 3, 0, "zzz"))
    const cur = selectionToCursors(other, spansOf(other), 5, 5)
    expect(cursorsToPm(t.handle.doc(), spansOf(t.handle.doc()), cur, t.state.doc)).toBeNull()
  })
})

describe("links", () => {
  it("keeps only safe schemes", () => {
    expect(safeHref("https://a.b/c")).toBe("https://a.b/c")
    expect(safeHref("mailto:x@y.z")).toBe("mailto:x@y.z")
    expect(safeHref("javascript:alert(1)")).toBe("")
    expect(safeHref(" JAVASCRIPT:alert(1)")).toBe("")
    expect(safeHref("data:text/html,x")).toBe("")
    expect(safeHref(42)).toBe("")
  })
  it("completes what people type", () => {
    expect(normalizeHref("example.com/x")).toBe("https://example.com/x")
    expect(normalizeHref("ada@example.com")).toBe("mailto:ada@example.com")
    expect(normalizeHref("http://x.y")).toBe("http://x.y")
    expect(normalizeHref("javascript:alert(1)")).toBe("")
    expect(normalizeHref("  ")).toBe("")
  })
  it("renders an unsafe link from another client without its href", () => {
    const mark = schema.marks.link.create({ href: "javascript:alert(1)" })
    const spec = schema.marks.link.spec.toDOM!(mark, true) as [string, Record<string, unknown>]
    expect(spec[1].href).toBeNull()
  })
})
