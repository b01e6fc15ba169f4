import * as A from "@automerge/automerge"
import { pmDocFromSpans } from "@automerge/prosemirror"
import { describe, expect, it } from "vitest"
import { Api, ApiError, splitHeads, type ChangeInfo } from "../../src/api"
import { TEXT_PATH } from "../../src/editor/positions"
import { schemaAdapter } from "../../src/editor/schema"
import { SESSION_GAP_MS, countLabel, groupChanges, headsAfterEach, mergePages } from "../../src/history/group"

const T0 = Date.parse("2026-11-27T10:00:00Z")
const iso = (ms: number) => new Date(ms).toISOString()

/** A linear history, oldest first in `spec`; returned newest first like the API. */
function linear(spec: { actor: string; at?: number; message?: string }[]): ChangeInfo[] {
  const out: ChangeInfo[] = []
  const seq: Record<string, number> = {}
  let prev: string | null = null
  spec.forEach((s, i) => {
    const hash = `h${i.toString().padStart(3, "0")}`
    seq[s.actor] = (seq[s.actor] ?? 0) + 1
    out.push({ hash, actor: s.actor, seq: seq[s.actor], time: s.at === undefined ? undefined : iso(s.at), message: s.message ?? "", deps: prev ? [prev] : [], size: 10 })
    prev = hash
  })
  return out.reverse()
}

describe("groupChanges", () => {
  it("groups consecutive keystrokes of one person, newest first", () => {
    const changes = linear([
      { actor: "aa", at: T0 },
      { actor: "aa", at: T0 + 1000 },
      { actor: "aa", at: T0 + 2000 },
      { actor: "bb", at: T0 + 3000 },
      { actor: "bb", at: T0 + 4000 },
    ])
    const s = groupChanges(changes)
    expect(s.map(x => [x.actor, x.count])).toEqual([
      ["bb", 2],
      ["aa", 3],
    ])
    expect(s[0]).toMatchObject({ id: "h004", end: T0 + 4000, start: T0 + 3000, heads: ["h004"], current: true })
    expect(s[1]).toMatchObject({ id: "h002", end: T0 + 2000, start: T0, heads: ["h002"], current: false })
  })

  it("splits a person's edits at pauses longer than the gap", () => {
    const changes = linear([
      { actor: "aa", at: T0 },
      { actor: "aa", at: T0 + 60_000 },
      { actor: "aa", at: T0 + 60_000 + SESSION_GAP_MS + 1000 },
      { actor: "aa", at: T0 + 60_000 + SESSION_GAP_MS + 2000 },
    ])
    expect(groupChanges(changes).map(x => x.count)).toEqual([2, 2])
    expect(groupChanges(changes, { gapMs: 10 * 60_000 }).map(x => x.count)).toEqual([4])
  })

  it("alternating people make separate sessions; a change with a message stands alone", () => {
    const changes = linear([
      { actor: "aa", at: T0 },
      { actor: "bb", at: T0 + 1 },
      { actor: "aa", at: T0 + 2 },
      { actor: "5e", at: T0 + 3, message: "Restore “Draft 1”" },
      { actor: "5e", at: T0 + 4, message: "Restore earlier" },
      { actor: "aa", at: T0 + 5 },
    ])
    const s = groupChanges(changes)
    expect(s.map(x => [x.actor, x.count, x.message ?? null])).toEqual([
      ["aa", 1, null],
      ["5e", 1, "Restore earlier"],
      ["5e", 1, "Restore “Draft 1”"],
      ["aa", 1, null],
      ["bb", 1, null],
      ["aa", 1, null],
    ])
  })

  it("changes without a time group by actor alone", () => {
    const changes = linear([{ actor: "aa" }, { actor: "aa" }, { actor: "bb" }])
    const s = groupChanges(changes)
    expect(s.map(x => [x.actor, x.count, x.end])).toEqual([
      ["bb", 1, undefined],
      ["aa", 2, undefined],
    ])
  })

  it("a list that does not start at the newest change has no current session", () => {
    const changes = linear([{ actor: "aa", at: T0 }])
    expect(groupChanges(changes, { fromNewest: false })[0].current).toBe(false)
    expect(groupChanges([])).toEqual([])
  })

  it("pages merge without duplicates and regroup across the boundary", () => {
    const all = linear([
      { actor: "aa", at: T0 },
      { actor: "aa", at: T0 + 1000 },
      { actor: "aa", at: T0 + 2000 },
    ])
    const merged = mergePages([all.slice(0, 2), all.slice(1)])
    expect(merged.map(c => c.hash)).toEqual(["h002", "h001", "h000"])
    expect(groupChanges(merged).map(x => x.count)).toEqual([3])
  })
})

describe("headsAfterEach", () => {
  it("tracks concurrent branches and their merge", () => {
    // root ← a1, root ← b1 (concurrent), merge m depends on both. Newest first: m, b1, a1, root.
    const changes: ChangeInfo[] = [
      { hash: "m", actor: "aa", seq: 3, deps: ["a1", "b1"] },
      { hash: "b1", actor: "bb", seq: 1, deps: ["root"] },
      { hash: "a1", actor: "aa", seq: 2, deps: ["root"] },
      { hash: "root", actor: "aa", seq: 1, deps: [] },
    ]
    expect(headsAfterEach(changes)).toEqual([["m"], ["a1", "b1"], ["a1"], ["root"]])
  })
})

describe("countLabel", () => {
  it("says change or changes", () => {
    expect(countLabel(1)).toBe("1 change")
    expect(countLabel(1234)).toBe("1,234 changes")
  })
})

/** A fetch that answers from a table and records the requests. */
function fakeFetch(routes: Record<string, { status?: number; body?: unknown; raw?: string }>) {
  const calls: { url: string; init?: RequestInit }[] = []
  const fn = async (url: string, init?: RequestInit) => {
    calls.push({ url, init })
    const key = `${init?.method ?? "GET"} ${url.replace("http://weft.test", "")}`
    const r = routes[key]
    if (!r) return new Response(JSON.stringify({ error: { code: "not_found", message: "no such API endpoint" } }), { status: 404 })
    return new Response(r.raw ?? JSON.stringify(r.body), { status: r.status ?? 200, headers: { "Content-Type": "application/json" } })
  }
  return { fn, calls }
}

describe("Api", () => {
  it("asks who we are with the token as a bearer header", async () => {
    const f = fakeFetch({ "GET /api/me?doc=abc": { body: { user: "u1", name: "Ada", role: "read", auth: "jwt" } } })
    const api = new Api({ base: "http://weft.test/", fetch: f.fn, token: () => "tok123" })
    expect(await api.me("abc")).toEqual({ user: "u1", name: "Ada", role: "read", auth: "jwt" })
    expect((f.calls[0].init?.headers as Record<string, string>).Authorization).toBe("Bearer tok123")
    expect(f.calls[0].init?.credentials).toBe("same-origin")
  })

  it("sends no Authorization header without a token, and maps unknown roles to none", async () => {
    const f = fakeFetch({ "GET /api/me?doc=abc": { body: { user: "", name: "", role: "owner", auth: "none" } } })
    const api = new Api({ base: "http://weft.test", fetch: f.fn, token: () => null })
    expect((await api.me("abc")).role).toBe("none")
    expect((f.calls[0].init?.headers as Record<string, string>).Authorization).toBeUndefined()
  })

  it("pages history and validates entries", async () => {
    const f = fakeFetch({
      "GET /api/docs/abc/history?limit=50&skip=100": {
        body: {
          changes: [
            { hash: "h2", actor: "aa", seq: 2, time: "2026-11-27T10:00:00Z", message: "", deps: "h1,h0", size: 3 },
            { hash: "h1", actor: "aa", seq: 1, deps: ["h0"], size: 3 },
            { nonsense: true },
          ],
          total: 151,
        },
      },
    })
    const api = new Api({ base: "http://weft.test", fetch: f.fn, token: () => null })
    const page = await api.history("abc", { limit: 50, skip: 100 })
    expect(page.total).toBe(151)
    expect(page.changes.map(c => c.hash)).toEqual(["h2", "h1"])
    // deps as the API's comma-separated heads string, or as a list
    expect(page.changes.map(c => c.deps)).toEqual([["h1", "h0"], ["h0"]])
    expect(page.changes[0].time).toBe("2026-11-27T10:00:00Z")
    expect(page.changes[1].time).toBeUndefined()
  })

  it("names versions and restores with the contract's bodies", async () => {
    const f = fakeFetch({
      "POST /api/docs/abc/versions": { status: 201, body: { name: "Draft 1", heads: "h1,h2", time: "2026-11-27T10:00:00Z", user: "u1" } },
      "POST /api/docs/abc/restore": { body: { heads: "h9", changed: true } },
      "GET /api/docs/abc/versions": { body: { versions: [{ name: "Draft 1", heads: "h1,h2" }, { bad: 1 }] } },
    })
    const api = new Api({ base: "http://weft.test", fetch: f.fn, token: () => null })
    expect((await api.createVersion("abc", "Draft 1")).heads).toBe("h1,h2")
    expect(JSON.parse(f.calls[0].init?.body as string)).toEqual({ name: "Draft 1" })
    await api.createVersion("abc", "Draft 1", ["h1", "h2"])
    expect(JSON.parse(f.calls[1].init?.body as string)).toEqual({ name: "Draft 1", heads: "h1,h2" })
    expect(await api.restore("abc", ["h1", "h2"], "Restore “Draft 1”")).toEqual({ heads: "h9", changed: true })
    expect(JSON.parse(f.calls[2].init?.body as string)).toEqual({ heads: "h1,h2", message: "Restore “Draft 1”" })
    expect((f.calls[2].init?.headers as Record<string, string>)["Content-Type"]).toBe("application/json")
    expect(await api.versions("abc")).toEqual([{ name: "Draft 1", heads: "h1,h2" }])
  })

  it("turns error bodies into ApiErrors with the server's message", async () => {
    const f = fakeFetch({
      "POST /api/docs/abc/restore": { status: 403, body: { error: { code: "forbidden", message: "write access needed" } } },
      "GET /api/docs/abc/versions": { status: 502, raw: "<html>bad gateway</html>" },
    })
    const api = new Api({ base: "http://weft.test", fetch: f.fn, token: () => null })
    const err = await api.restore("abc", ["h1"], "x").catch(e => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 403, code: "forbidden", message: "write access needed", unavailable: false })
    const err2 = await api.versions("abc").catch(e => e)
    expect(err2).toMatchObject({ status: 502, unavailable: false })
  })

  it("recognises a server without the API (the placeholder 404, or HTML)", async () => {
    const f = fakeFetch({ "GET /api/docs/abc/versions": { raw: "<!doctype html><div id=app>" } })
    const api = new Api({ base: "http://weft.test", fetch: f.fn, token: () => null })
    const err = await api.history("abc").catch(e => e)
    expect(err).toMatchObject({ status: 404, unavailable: true })
    expect(await api.versions("abc").catch(e => e)).toMatchObject({ unavailable: true })
    const down = new Api({ base: "http://weft.test", fetch: () => Promise.reject(new TypeError("Failed to fetch")), token: () => null })
    expect(await down.me("abc").catch(e => e)).toMatchObject({ code: "network", unavailable: false })
  })

  it("reads a document at heads, wrapped or not", async () => {
    const f = fakeFetch({
      "GET /api/docs/abc?at=h1%2Ch2": { body: { title: "T", text: "\nHello" } },
      "GET /api/docs/abc?at=h3": { body: { doc: { title: "U", text: "x" } } },
    })
    const api = new Api({ base: "http://weft.test", fetch: f.fn, token: () => null })
    expect(await api.docAt("abc", ["h1", "h2"])).toEqual({ title: "T", text: "\nHello" })
    expect(await api.docAt("abc", ["h3"])).toEqual({ title: "U", text: "x" })
    expect(splitHeads(" h1, h2,,")).toEqual(["h1", "h2"])
  })
})

describe("preview from the local document", () => {
  it("Automerge.view at earlier heads renders the old rich text with formatting", () => {
    let doc = A.from<{ title: string; text: string }>({ title: "", text: "" })
    doc = A.change(doc, d => {
      A.splitBlock(d, ["text"], 0, { type: new A.ImmutableString("heading"), parents: [], attrs: { level: 1 } })
      A.splice(d, ["text"], 1, 0, "Old title")
      A.updateText(d, ["title"], "v1")
    })
    doc = A.change(doc, d => A.mark(d, ["text"], { start: 1, end: 4, expand: "none" }, "strong", true))
    const old = A.getHeads(doc)
    doc = A.change(doc, d => {
      A.splice(d, ["text"], 1, 9, "New")
      A.updateText(d, ["title"], "v2")
    })
    expect(A.hasHeads(doc, old)).toBe(true)
    expect(A.hasHeads(doc, ["00".repeat(32)])).toBe(false)
    const at = A.view(doc, old)
    expect(at.title).toBe("v1")
    const pm = pmDocFromSpans(schemaAdapter, A.spans(at, TEXT_PATH))
    expect(pm.firstChild?.type.name).toBe("heading")
    expect(pm.textContent).toBe("Old title")
    let bold = ""
    pm.descendants(n => {
      if (n.isText && n.marks.some(m => m.type.name === "strong")) bold += n.text
    })
    expect(bold).toBe("Old")
    expect(pmDocFromSpans(schemaAdapter, A.spans(doc, TEXT_PATH)).textContent).toBe("New")
  })
})

describe("restoring in the browser", () => {
  it("brings back the exact rich text and title as one change with a message", async () => {
    const { Repo } = await import("@automerge/automerge-repo")
    const { restoreLocally, contentAt, sameContent } = await import("../../src/history/restore")
    const repo = new Repo({ network: [] })
    const handle = repo.create<{ title: string; text: string }>({ title: "Plan", text: "" })
    handle.change(d => {
      A.splitBlock(d, ["text"], 0, { type: new A.ImmutableString("heading"), parents: [], attrs: { level: 2 } })
      A.splice(d, ["text"], 1, 0, "Goals")
      A.splitBlock(d, ["text"], 6, { type: new A.ImmutableString("paragraph"), parents: [], attrs: {} })
      A.splice(d, ["text"], 7, 0, "Ship in March.")
    })
    handle.change(d => A.mark(d, ["text"], { start: 15, end: 20, expand: "none" }, "strong", true))
    const old = A.getHeads(handle.doc())
    const want = contentAt(handle.doc(), old)!
    handle.change(d => {
      A.updateText(d, ["title"], "Plan v2")
      A.updateText(d, ["text"], "\nRewritten")
    })
    expect(sameContent(handle.doc(), want)).toBe(false)
    expect(restoreLocally(handle, old, "Restore “Draft 1”")).toBe(true)
    expect(sameContent(handle.doc(), want)).toBe(true)
    expect(handle.doc().title).toBe("Plan")
    const last = A.getLastLocalChange(handle.doc())!
    expect(A.decodeChange(last).message).toBe("Restore “Draft 1”")
    const pm = pmDocFromSpans(schemaAdapter, A.spans(handle.doc(), TEXT_PATH))
    expect(pm.child(0).type.name).toBe("heading")
    expect(pm.textBetween(0, pm.content.size, "\n")).toBe("Goals\nShip in March.")
    expect(restoreLocally(handle, ["00".repeat(32)], "x")).toBe(false)
  })
})
