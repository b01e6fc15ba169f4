// End-to-end tests of the editor against the real weft binary (WEFT_BIN, default ../bin/weft),
// in Debian's Chromium driven by playwright-core. Screenshots go to test-results/.
//
//   npm run build && npm run test:e2e
import assert from "node:assert/strict"
import http from "node:http"
import { after, before, describe, it } from "node:test"
import * as A from "@automerge/automerge"
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo"
import {
  editorText,
  eventually,
  launchBrowser,
  newDocument,
  nodeClient,
  openDoc,
  person,
  prerequisites,
  screenshot,
  startWeft,
  status,
  typeInEditor,
  withContext,
} from "./harness.mjs"

const skip = prerequisites()
if (skip) console.log(`# skipping browser tests: ${skip}`)

/** Waits until a fresh Node client can read `text` in the document from the server. */
async function serverHas(url, id, text) {
  const node = await nodeClient(url)
  try {
    await eventually(async () => (await node.repo.find(`automerge:${id}`)).doc().text.includes(text), { message: `server has ${JSON.stringify(text)}` })
  } finally {
    await node.close()
  }
}

/**
 * The text of the block a remote caret (drawn for `name`) is in, up to the caret: found by asking
 * the browser which text position lies under the caret's middle.
 */
function textBeforeCaret(page, name) {
  return page.evaluate(n => {
    const caret = [...document.querySelectorAll(".remote-caret")].find(c => c.dataset.name === n && !c.hidden)
    if (!caret) return null
    const r = caret.getBoundingClientRect()
    const at = document.caretRangeFromPoint(r.left + 1, r.top + r.height / 2)
    if (!at) return null
    const node = at.startContainer.nodeType === 1 ? at.startContainer : at.startContainer.parentElement
    const block = node.closest("p, h1, h2, h3, li, pre, blockquote")
    if (!block) return null
    const range = document.createRange()
    range.setStart(block, 0)
    range.setEnd(at.startContainer, at.startOffset)
    return range.toString()
  }, name)
}

function cspErrors(p) {
  return p.errors.filter(e => /Content Security Policy|Refused to/i.test(e))
}

describe("weft editor in a browser", { skip: skip ?? false, timeout: 300_000 }, () => {
  let server
  let browser
  const people = []
  const ctx = () => server

  before(async () => {
    server = await startWeft()
    const page = await (await fetch(`${server.url}/d/x`)).text()
    if (!page.includes('<div id="app">')) {
      await server.cleanup()
      throw new Error(`${server.url} does not serve the editor at /d/<id> (is editorweb.Handler mounted at "/"?); got: ${page.slice(0, 200)}`)
    }
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.close()
    await server?.cleanup()
  })

  it(
    "two people see each other's typing, names and carets; someone who leaves disappears",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      const bob = await person(browser, "Bob")
      people.push(ada, bob)

      const url = await newDocument(ada, server.url)
      assert.match(url, /\/d\/[1-9A-HJ-NP-Za-km-z]+$/)
      await ada.page.fill("[data-testid=title]", "Launch plan")
      await typeInEditor(ada.page, "Ada writes the first line.")

      await openDoc(bob, url)
      await eventually(async () => (await editorText(bob.page)).includes("Ada writes the first line."), { message: "Bob sees Ada's text" })
      await eventually(async () => (await bob.page.inputValue("[data-testid=title]")) === "Launch plan", { message: "Bob sees the title" })

      await bob.page.locator(".ProseMirror").click()
      await bob.page.keyboard.press("Control+End")
      await bob.page.keyboard.press("Enter")
      await bob.page.keyboard.type("Bob adds a line.")
      await eventually(async () => (await editorText(ada.page)).includes("Bob adds a line."), { message: "Ada sees Bob's text" })

      // Named carets, and each in the other's list of people.
      await eventually(async () => (await textBeforeCaret(ada.page, "Bob")) === "Bob adds a line.", { message: "Ada sees Bob's caret after his text" })
      await ada.page.keyboard.press("End")
      await eventually(async () => (await textBeforeCaret(bob.page, "Ada")) === "Ada writes the first line.", { message: "Bob sees Ada's caret" })
      await eventually(() => ada.page.locator("[data-testid=person][data-name=Bob]").count(), { message: "Ada lists Bob" })
      await eventually(() => bob.page.locator("[data-testid=person][data-name=Ada]").count(), { message: "Bob lists Ada" })

      // Ada types before Bob's caret: his caret stays after his text.
      await ada.page.keyboard.press("Control+Home")
      await ada.page.keyboard.type("Draft: ")
      await eventually(async () => (await textBeforeCaret(ada.page, "Bob")) === "Bob adds a line.", { message: "Bob's caret stays on its character" })

      // A selection shows too.
      await bob.page.keyboard.press("Shift+Home")
      await eventually(() => ada.page.locator(".remote-selection").count(), { message: "Ada sees Bob's selection" })
      await bob.page.keyboard.press("End")

      // Some structure, for the screenshots.
      await ada.page.keyboard.press("Control+End")
      await ada.page.keyboard.press("Enter")
      await ada.page.keyboard.type("## Goals")
      await ada.page.keyboard.press("Enter")
      await ada.page.keyboard.type("- Ship the **editor** ")
      await ada.page.keyboard.press("Enter")
      await ada.page.keyboard.type("Measure the time to first edit")
      await eventually(async () => (await editorText(bob.page)).includes("Measure the time to first edit"), { message: "Bob sees the list" })
      await eventually(async () => (await textBeforeCaret(bob.page, "Ada")) === "Measure the time to first edit", { message: "Ada's caret at her text" })
      await eventually(async () => (await status(ada.page).getAttribute("data-sync")) === "saved", { message: "Ada saved" })
      await screenshot(ada.page, "two-people-ada")
      await screenshot(bob.page, "two-people-bob")

      // Bob closes his tab: he is gone from Ada's page within seconds.
      const t0 = Date.now()
      await bob.context.close()
      await eventually(async () => (await ada.page.locator("[data-testid=person][data-name=Bob]").count()) === 0, {
        timeout: 15_000,
        message: "Bob disappears",
      })
      await eventually(async () => (await ada.page.locator(".remote-caret").count()) === 0, { message: "Bob's caret disappears" })
      console.log(`# Bob vanished from Ada's page ${Date.now() - t0} ms after closing`)
      assert.deepEqual(cspErrors(ada), [])
      assert.deepEqual(ada.errors, [])
    }),
  )

  it(
    "formatting made by one person shows for the other",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      const bob = await person(browser, "Bob")
      people.push(ada, bob)
      const url = await newDocument(ada, server.url)
      await openDoc(bob, url)

      const pa = ada.page
      await pa.locator(".ProseMirror").click()
      await pa.keyboard.type("Quarterly review")
      await pa.selectOption("[data-testid=block-type]", "h1")
      await pa.keyboard.press("End")
      await pa.keyboard.press("Enter")
      await pa.keyboard.type("Revenue grew ")
      await pa.keyboard.press("Control+b")
      await pa.keyboard.type("fast")
      await pa.keyboard.press("Control+b")
      await pa.keyboard.type(" and ")
      await pa.locator("[data-cmd=italic]").click()
      await pa.keyboard.type("steadily")
      await pa.locator("[data-cmd=italic]").click()
      await pa.keyboard.press("Enter")
      await pa.locator("[data-cmd=bullet-list]").click()
      await pa.keyboard.type("first point")
      await pa.keyboard.press("Enter")
      await pa.keyboard.type("second point")
      await pa.keyboard.press("Enter")
      await pa.keyboard.press("Enter") // leaves the list
      await pa.keyboard.type("1. numbered by typing")
      await pa.keyboard.press("Enter")
      await pa.keyboard.press("Enter")
      await pa.keyboard.type("> a quote")
      await pa.keyboard.press("Enter")
      await pa.keyboard.press("Enter")
      await pa.keyboard.type("use `npm ci` first")

      const pb = bob.page
      await eventually(async () => (await pb.locator(".ProseMirror h1").textContent()) === "Quarterly review", { message: "heading" })
      await eventually(async () => (await pb.locator(".ProseMirror strong").textContent()) === "fast", { message: "bold" })
      await eventually(async () => (await pb.locator(".ProseMirror em").textContent()) === "steadily", { message: "italic" })
      await eventually(async () => (await pb.locator(".ProseMirror ul > li").allTextContents()).join("|") === "first point|second point", {
        message: "bullet list",
      })
      await eventually(async () => (await pb.locator(".ProseMirror ol > li").allTextContents()).join("|") === "numbered by typing", {
        message: "numbered list",
      })
      await eventually(async () => (await pb.locator(".ProseMirror blockquote").textContent()) === "a quote", { message: "quote" })
      await eventually(async () => (await pb.locator(".ProseMirror p code").textContent()) === "npm ci", { message: "inline code" })

      // A code block and a link, made by Bob, reach Ada.
      await pb.locator(".ProseMirror").click()
      await pb.keyboard.press("Control+End")
      await pb.keyboard.press("Enter")
      await pb.keyboard.type("```")
      await pb.keyboard.type("go test ./...")
      await pb.keyboard.press("Control+Enter") // leave the code block
      await pb.keyboard.type("see the docs")
      await pb.keyboard.press("Shift+Home")
      await pb.keyboard.press("Control+k")
      await pb.locator(".link-input").fill("example.com/docs")
      await pb.keyboard.press("Enter")
      await eventually(async () => (await pa.locator(".ProseMirror pre").textContent()) === "go test ./...", { message: "code block" })
      await eventually(async () => (await pa.locator(".ProseMirror a").getAttribute("href")) === "https://example.com/docs", { message: "link" })

      // Undo is per person: Ada's undo removes her last edit, not Bob's link.
      await pa.locator(".ProseMirror").click()
      await pa.keyboard.press("Control+End")
      await pa.keyboard.type(" ADA-LAST")
      await eventually(async () => (await editorText(pb)).includes("ADA-LAST"), { message: "Bob sees Ada's last edit" })
      await pa.keyboard.press("Control+z")
      await eventually(async () => !(await editorText(pa)).includes("ADA-LAST"), { message: "Ada's undo" })
      assert.equal(await pa.locator(".ProseMirror a").getAttribute("href"), "https://example.com/docs", "Bob's link survives Ada's undo")
      assert.equal(await pa.locator(".ProseMirror pre").textContent(), "go test ./...", "Bob's code block survives Ada's undo")
      await eventually(async () => !(await editorText(pb)).includes("ADA-LAST"), { message: "Bob sees the undo" })

      await screenshot(pb, "formatting-bob")
      assert.deepEqual([...ada.errors, ...bob.errors], [])
    }),
  )

  it(
    "someone offline keeps typing; both converge when they come back",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      const bob = await person(browser, "Bob")
      people.push(ada, bob)
      const url = await newDocument(ada, server.url)
      await typeInEditor(ada.page, "Shared start.")
      await openDoc(bob, url)
      await eventually(async () => (await editorText(bob.page)).includes("Shared start."), { message: "Bob has the start" })
      await eventually(async () => (await status(bob.page).getAttribute("data-sync")) === "saved", { message: "Bob saved" })

      await bob.context.setOffline(true)
      await eventually(async () => (await status(bob.page).getAttribute("data-connection")) !== "connected", {
        message: "Bob's page notices it is offline",
      })
      // Bob's heartbeats stop: Ada's page drops him within seconds, no goodbye needed.
      const tGone = Date.now()
      await eventually(async () => (await ada.page.locator("[data-testid=person][data-name=Bob]").count()) === 0, {
        timeout: 20_000,
        message: "offline Bob disappears from Ada's list",
      })
      console.log(`# Bob (network lost) vanished from Ada's page after ${Date.now() - tGone} ms`)
      await typeInEditor(bob.page, " Bob offline.")
      await typeInEditor(ada.page, " Ada online.", { at: "start" })
      await bob.page.keyboard.press("Enter")
      await bob.page.keyboard.type("Second offline paragraph.")
      await eventually(async () => (await status(bob.page).getAttribute("data-sync")) === "unsynced", { message: "Bob unsynced" })
      assert.equal(await status(bob.page).locator(".status-sync").textContent(), "Unsynced changes")
      await screenshot(bob.page, "offline-bob")
      await new Promise(r => setTimeout(r, 1500))
      assert.ok(!(await editorText(ada.page)).includes("Bob offline."), "Ada cannot see Bob's offline edits yet")

      await bob.context.setOffline(false)
      const converged = await eventually(
        async () => {
          const [a, b] = [await editorText(ada.page), await editorText(bob.page)]
          return a === b && a.includes("Bob offline.") && a.includes("Ada online.") && a.includes("Second offline paragraph.") ? a : null
        },
        { timeout: 30_000, message: "both pages converge" },
      )
      console.log(`# converged text: ${JSON.stringify(converged)}`)
      await eventually(async () => (await status(bob.page).getAttribute("data-sync")) === "saved", { timeout: 20_000, message: "Bob saved again" })
      assert.equal(await status(bob.page).locator(".status-sync").textContent(), "Saved to server")
      assert.deepEqual([...ada.errors, ...bob.errors].filter(e => !/ERR_INTERNET_DISCONNECTED|WebSocket/.test(e)), [])
    }),
  )

  it(
    "a document created in the browser is readable by a Node automerge-repo client",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      people.push(ada)
      const url = await newDocument(ada, server.url)
      await ada.page.fill("[data-testid=title]", "From the browser")
      await typeInEditor(ada.page, "Readable by Node.")
      await ada.page.keyboard.press("Control+b")
      await ada.page.keyboard.type(" Bold too.")
      await eventually(async () => (await editorText(ada.page)).endsWith("Bold too."), { message: "typed" })
      await eventually(async () => (await status(ada.page).getAttribute("data-sync")) === "saved", { message: "saved to server" })

      const id = url.split("/d/")[1]
      const node = await nodeClient(server.url)
      try {
        const handle = await node.repo.find(`automerge:${id}`)
        const doc = handle.doc()
        assert.equal(doc.title, "From the browser")
        const spans = A.spans(doc, ["text"])
        const text = spans.filter(s => s.type === "text").map(s => s.value).join("")
        assert.equal(text, "Readable by Node. Bold too.")
        assert.ok(spans.some(s => s.type === "text" && s.marks?.strong === true && s.value.includes("Bold too.")), JSON.stringify(spans))
      } finally {
        await node.close()
      }
    }),
  )

  it(
    "a document that does not exist says so",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      people.push(ada)
      const { documentId } = parseAutomergeUrl(generateAutomergeUrl())
      const t0 = Date.now()
      await ada.page.goto(`${server.url}/d/${documentId}`)
      await ada.page.locator("[data-testid=not-found]").waitFor({ timeout: 15_000 })
      console.log(`# "not found" shown after ${Date.now() - t0} ms`)
      await screenshot(ada.page, "not-found")
      await ada.page.goto(`${server.url}/d/not-a-document`)
      await ada.page.getByText("This link is not valid").waitFor()
    }),
  )

  it(
    "opens a 100 KB document and measures the time to the first edit",
    withContext(ctx, people, async () => {
      const node = await nodeClient(server.url)
      let id
      try {
        const handle = node.repo.create({ title: "", text: "" })
        handle.change(d => {
          d.title = "A long report"
          let at = 0
          const block = (type, attrs = {}) => {
            A.splitBlock(d, ["text"], at, { type: new A.ImmutableString(type), parents: [], attrs })
            at += 1
          }
          const text = s => {
            A.splice(d, ["text"], at, 0, s)
            at += s.length
          }
          let n = 0
          while (at < 100_000) {
            if (n % 12 === 0) {
              block("heading", { level: 2 })
              text(`Section ${n / 12 + 1}`)
            }
            block("paragraph")
            text(`Paragraph ${n}: the quick brown fox jumps over the lazy dog while the editor keeps every keystroke in sync across the team. `)
            n++
          }
        })
        id = handle.documentId
        // Wait until the server has it: a second client can load it.
        const check = await nodeClient(server.url)
        try {
          await eventually(async () => (await check.repo.find(`automerge:${id}`)).doc().text.length >= 100_000, { timeout: 20_000, message: "server has the big document" })
        } finally {
          await check.close()
        }
      } finally {
        await node.close()
      }

      const measure = async label => {
        const p = await person(browser, "Measurer")
        people.push(p)
        const t0 = Date.now()
        await p.page.goto(`${server.url}/d/${id}`)
        const editable = p.page.locator(".ProseMirror[contenteditable=true]")
        await editable.waitFor({ timeout: 60_000 })
        const tVisible = Date.now() - t0
        await p.page.locator(".ProseMirror h2").first().click()
        await p.page.keyboard.press("Home")
        await p.page.keyboard.type("X")
        await eventually(async () => (await p.page.locator(".ProseMirror h2").first().textContent()).startsWith("X"), { message: "first edit visible" })
        const tEdit = Date.now() - t0
        console.log(`# 100 KB document (${label}): editor ready ${tVisible} ms, first edit applied ${tEdit} ms after navigation`)
        return { p, tEdit }
      }
      const cold = await measure("cold: empty cache and IndexedDB")
      await screenshot(cold.p.page, "large-document")
      // Warm: same browser profile (IndexedDB and cached app), reload.
      const t0 = Date.now()
      await cold.p.page.reload()
      await cold.p.page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 60_000 })
      console.log(`# 100 KB document (warm reload, from IndexedDB): editor ready ${Date.now() - t0} ms`)
      assert.ok(cold.tEdit < 30_000, `time to first edit ${cold.tEdit} ms`)
    }),
  )

  it(
    "the <weft-editor> element works on the example page and emits events",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      people.push(ada)
      const page = ada.page
      await page.goto(`${server.url}/embed-example`)
      await page.locator("weft-editor .ProseMirror[contenteditable=true]").waitFor({ timeout: 30_000 })
      await page.locator("weft-editor .ProseMirror").click()
      await page.keyboard.type("Embedded and synced.")
      await eventually(() => page.locator(".event-log .event-change").count(), { message: "a change event" })
      await eventually(async () => (await page.locator("weft-editor").getAttribute("document"))?.length > 10, { message: "document id" })
      await eventually(async () => (await page.evaluate(() => document.querySelector("weft-editor").status?.sync)) === "saved", {
        message: "status event says saved",
      })
      assert.ok(await page.locator(".event-log .event-ready").count())
      assert.ok(await page.locator(".event-log .event-status").count())
      const id = await page.locator("weft-editor").getAttribute("document")
      await screenshot(page, "embed-example")

      await serverHas(server.url, id, "Embedded and synced.")
      assert.deepEqual(cspErrors(ada), [])
    }),
  )

  it(
    "<weft-editor> on another site's page syncs with weft",
    withContext(ctx, people, async () => {
      // A page on another origin (another port) that embeds the editor from weft.
      const host = http.createServer((req, res) => {
        res.setHeader("Content-Type", "text/html; charset=utf-8")
        res.end(`<!doctype html><title>host</title><h1>Acme wiki</h1>
<script type="module" src="${own.url}/embed.js"></script>
<weft-editor server="${own.url}" name="Guest writer"></weft-editor>`)
      })
      await new Promise(r => host.listen(0, "127.0.0.1", r))
      const hostOrigin = `127.0.0.1:${host.address().port}`
      const own = await startWeft({ args: ["--allowed-origins", hostOrigin] })
      try {
        const ada = await person(browser, "Ada")
        people.push(ada)
        await ada.page.goto(`http://${hostOrigin}/`)
        await ada.page.locator("weft-editor .ProseMirror[contenteditable=true]").waitFor({ timeout: 30_000 })
        await ada.page.locator("weft-editor .ProseMirror").click()
        await ada.page.keyboard.type("Written on another site.")
        await eventually(async () => (await ada.page.evaluate(() => document.querySelector("weft-editor").status?.sync)) === "saved", {
          message: "saved to weft from the other origin",
        })
        const id = await ada.page.locator("weft-editor").getAttribute("document")
        await serverHas(own.url, id, "Written on another site.")
        assert.deepEqual(ada.errors, [])
      } finally {
        await own.cleanup()
        host.close()
      }
    }),
  )

  it(
    "serves the bundle: cache headers, precompression, fallback, security headers",
    withContext(ctx, people, async () => {
      const page = await fetch(`${server.url}/d/4NMNnkMhL8jXrdJ9jamS58PAVdXu`)
      assert.equal(page.status, 200)
      assert.equal(page.headers.get("cache-control"), "no-cache")
      const csp = page.headers.get("content-security-policy") ?? ""
      assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/)
      assert.match(csp, /frame-ancestors/)
      assert.equal(page.headers.get("x-content-type-options"), "nosniff")
      const html = await page.text()
      const scripts = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map(m => m[1])
      assert.ok(scripts.length >= 2, html)
      for (const src of scripts) {
        const res = await fetch(`${server.url}${src}`, { headers: { "Accept-Encoding": "br, gzip" } })
        assert.equal(res.status, 200, src)
        assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable", src)
        assert.equal(res.headers.get("content-encoding"), "br", src)
      }
      const missing = await fetch(`${server.url}/assets/nope-123.js`)
      assert.equal(missing.status, 404)
      const embed = await fetch(`${server.url}/embed.js`, { headers: { "Accept-Encoding": "gzip" } })
      assert.equal(embed.status, 200)
      assert.equal(embed.headers.get("access-control-allow-origin"), "*")
      assert.equal(embed.headers.get("content-encoding"), "gzip")
      assert.match(embed.headers.get("content-type") ?? "", /javascript/)
      const example = await fetch(`${server.url}/embed-example`)
      assert.equal(example.status, 200)
      assert.match(await example.text(), /<weft-editor/)
      const health = await fetch(`${server.url}/healthz`)
      assert.equal(health.status, 200, "the server's own routes come before the editor")
    }),
  )

  it(
    "a reload keeps the content while the server is stopped",
    withContext(ctx, people, async () => {
      const own = await startWeft()
      try {
        const carol = await person(browser, "Carol")
        people.push(carol)
        const url = await newDocument(carol, own.url)
        await carol.page.fill("[data-testid=title]", "Offline notes")
        await typeInEditor(carol.page, "Written before the server went away.")
        await eventually(async () => (await editorText(carol.page)).includes("went away."), { message: "typed" })
        await eventually(async () => (await status(carol.page).getAttribute("data-sync")) === "saved", { message: "saved" })
        await serverHas(own.url, carol.page.url().split("/d/")[1], "Written before the server went away.")
        // The app itself must be cached for a reload without the server.
        await carol.page.evaluate(() => navigator.serviceWorker.ready.then(() => true))

        await own.stop()
        await carol.page.reload()
        await carol.page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 20_000 })
        assert.ok((await editorText(carol.page)).includes("Written before the server went away."))
        assert.equal(await carol.page.inputValue("[data-testid=title]"), "Offline notes")
        await eventually(async () => (await status(carol.page).getAttribute("data-connection")) !== "connected", { message: "not connected" })
        assert.equal(await status(carol.page).locator(".status-sync").textContent(), "Saved to server", "it was saved before the server stopped")

        // Edits made now survive another reload.
        await typeInEditor(carol.page, " Added while the server is down.")
        await eventually(async () => (await status(carol.page).getAttribute("data-sync")) === "unsynced", { message: "unsynced" })
        await screenshot(carol.page, "server-stopped")
        // Stored in this browser (the status says so as soon as the write has committed).
        await eventually(async () => (await status(carol.page).getAttribute("data-local")) === "saved", { message: "stored locally" })
        carol.page.on("dialog", d => d.accept()) // the unsynced-changes warning
        await carol.page.reload()
        await carol.page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 20_000 })
        assert.ok((await editorText(carol.page)).includes("Added while the server is down."))
      } finally {
        await own.cleanup()
      }
    }),
  )

  it(
    "text typed just before a reload or a tab close is still there, online and offline, on a slow CPU",
    withContext(ctx, people, async () => {
      const own = await startWeft()
      try {
        const carol = await person(browser, "Carol")
        people.push(carol)
        const url = await newDocument(carol, own.url)
        await carol.page.evaluate(() => navigator.serviceWorker.ready.then(() => true))
        // The worst timing we can make: the page's CPU 8 times slower, and the reload (or close)
        // sent the moment the last key is typed. Leaving is confirmed in the warning dialog.
        const cdp = await carol.context.newCDPSession(carol.page)
        await cdp.send("Emulation.setCPUThrottlingRate", { rate: 8 })
        const leave = d => d.accept()
        carol.page.on("dialog", leave)
        const reopened = async (page, text, message) => {
          await page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 30_000 })
          const got = await editorText(page)
          assert.ok(got.includes(text), `${message}: ${JSON.stringify(text)} is missing from ${JSON.stringify(got)}`)
        }

        await typeInEditor(carol.page, "Typed online.")
        await carol.page.reload()
        await reopened(carol.page, "Typed online.", "reloaded right after typing, online")

        await own.stop()
        await typeInEditor(carol.page, " Typed offline.")
        await carol.page.reload()
        await reopened(carol.page, "Typed online. Typed offline.", "reloaded right after typing, offline")
        await eventually(async () => (await status(carol.page).getAttribute("data-connection")) !== "connected", { message: "not connected" })

        await typeInEditor(carol.page, " Then the tab was closed.")
        const closed = new Promise(r => carol.page.once("close", r))
        await carol.page.close({ runBeforeUnload: true })
        await closed
        const again = await carol.context.newPage()
        again.on("dialog", leave)
        await again.goto(url)
        await reopened(again, "Typed online. Typed offline. Then the tab was closed.", "a new tab after closing right after typing, offline")
        assert.deepEqual(carol.errors.filter(e => !/ERR_CONNECTION_REFUSED|WebSocket/i.test(e)), [])
      } finally {
        await own.cleanup()
      }
    }),
  )
})
