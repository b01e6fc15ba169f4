// End-to-end tests of read-only mode and the history panel against the real weft binary
// (WEFT_BIN), in Debian's Chromium driven by playwright-core. Screenshots go to test-results/.
//
//   npm run build && WEFT_BIN=../bin/weft npm run test:e2e
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { after, before, describe, it } from "node:test"
import {
  WEFT_BIN,
  editorText,
  eventually,
  launchBrowser,
  newDocument,
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

const saved = (p, what = "saved") =>
  eventually(async () => (await status(p.page).getAttribute("data-sync")) === "saved", { message: `${p.name} ${what}` })

/** Errors a page may log for reasons outside the test (none expected otherwise). */
const unexpected = p => p.errors.filter(e => !/Failed to load resource|net::ERR_FAILED/.test(e))

describe("read-only access", { skip: skip ?? false, timeout: 300_000 }, () => {
  let server
  let browser
  let dir
  const people = []
  const ctx = () => server
  const tokens = {}

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "weft-e2e-auth-"))
    const secret = join(dir, "secret")
    await writeFile(secret, randomBytes(48).toString("hex"))
    const mint = async (sub, name, role) =>
      (await promisify(execFile)(WEFT_BIN, ["token", "--secret-file", secret, "--sub", sub, "--name", name, "--doc", `*=${role}`, "--ttl", "1h"])).stdout.trim()
    tokens.ada = await mint("ada", "Ada Lovelace", "write")
    tokens.rita = await mint("rita", "Rita Reader", "read")
    server = await startWeft({ args: ["--auth", "jwt", "--jwt-secret-file", secret] })
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.close()
    await server?.cleanup()
    if (dir) await rm(dir, { recursive: true, force: true })
  })
  /** A person signed in with the `weft_token` cookie. */
  const signedIn = async (name, token) => {
    const p = await person(browser, name)
    await p.context.addCookies([{ name: "weft_token", value: token, url: server.url }])
    return p
  }

  it(
    "a reader cannot type and sees the badge while a writer's edits appear",
    withContext(ctx, people, async () => {
      // Ada signs in with the cookie; Rita follows a link that carries her token.
      const ada = await signedIn("Ada", tokens.ada)
      const rita = await person(browser, "Rita")
      people.push(ada, rita)

      const me = await (await fetch(`${server.url}/api/me?doc=x`, { headers: { Authorization: `Bearer ${tokens.rita}` } })).json()
      assert.equal(me.role, "read", JSON.stringify(me))

      const url = await newDocument(ada, server.url)
      await ada.page.fill("[data-testid=title]", "Team handbook")
      await typeInEditor(ada.page, "Written by Ada.")
      await saved(ada)

      await rita.page.goto(`${url}?token=${tokens.rita}`)
      await rita.page.locator(".ProseMirror").waitFor({ timeout: 30_000 })
      const badge = rita.page.locator("[data-testid=read-only]")
      await badge.waitFor({ state: "visible", timeout: 10_000 })
      await eventually(async () => (await editorText(rita.page)).includes("Written by Ada."), { message: "Rita sees the text" })
      assert.equal(await rita.page.locator(".ProseMirror").getAttribute("contenteditable"), "false")
      assert.equal(await rita.page.locator(".toolbar-row").isVisible(), false, "no formatting toolbar for a reader")
      assert.equal(await rita.page.locator("[data-testid=title]").getAttribute("readonly"), "")
      assert.match(await rita.page.locator(".ro-tip").textContent(), /read-only/)

      // Typing does nothing, in the text or the title.
      await rita.page.locator(".ProseMirror").click()
      await rita.page.keyboard.press("Control+End")
      await rita.page.keyboard.type("RITA WAS HERE")
      await rita.page.keyboard.press("Control+b")
      await rita.page.locator("[data-testid=title]").click()
      await rita.page.keyboard.type("TITLE BY RITA")
      await new Promise(r => setTimeout(r, 500))
      assert.ok(!(await editorText(rita.page)).includes("RITA"), "nothing typed by Rita")
      assert.equal(await rita.page.inputValue("[data-testid=title]"), "Team handbook")

      // Live edits from the writer still arrive; both see each other.
      await ada.page.locator(".ProseMirror").click()
      await ada.page.keyboard.press("Control+End")
      await ada.page.keyboard.press("Enter")
      await ada.page.keyboard.type("A second paragraph, live.")
      await eventually(async () => (await editorText(rita.page)).includes("A second paragraph, live."), { message: "Rita sees Ada's new paragraph" })
      await eventually(() => rita.page.locator("[data-testid=person][data-name='Ada']").count(), { message: "Rita sees Ada here" })
      await eventually(() => ada.page.locator("[data-testid=person][data-name='Rita']").count(), { message: "Ada sees Rita here" })
      assert.ok(!(await editorText(ada.page)).includes("RITA"))
      assert.equal(await ada.page.locator("[data-testid=read-only]").isVisible(), false, "Ada is not read-only")

      // A reader browses history but cannot restore or name versions.
      await rita.page.click("[data-testid=history-toggle]")
      await rita.page.locator("[data-testid=session]").first().waitFor({ timeout: 10_000 })
      assert.equal(await rita.page.locator("[data-testid=name-version]").isVisible(), false)
      await rita.page.locator("[data-testid=session]").last().click()
      await rita.page.locator("[data-testid=preview-bar]").waitFor()
      assert.equal(await rita.page.locator("[data-testid=restore]").isVisible(), false, "no restore for a reader")
      await rita.page.click("[data-testid=back-to-live]")
      await rita.page.click("[data-testid=history-toggle]")

      await badge.hover()
      await eventually(async () => (await rita.page.locator(".ro-tip").evaluate(el => getComputedStyle(el).opacity)) === "1", { message: "tooltip shown" })
      await screenshot(rita.page, "read-only-rita")
      assert.deepEqual(unexpected(rita), [])
      assert.deepEqual(unexpected(ada), [])
    }),
  )

  it(
    "when the server refuses changes, the editor falls back to read-only",
    withContext(ctx, people, async () => {
      const ada = await signedIn("Ada", tokens.ada)
      const rita = await signedIn("Rita", tokens.rita)
      people.push(ada, rita)
      const url = await newDocument(ada, server.url)
      await typeInEditor(ada.page, "Only Ada writes here.")
      await saved(ada)

      // Rita's page cannot learn her role (as with a server without /api/me): it starts editable.
      await rita.page.route("**/api/me**", route => route.fulfill({ status: 404, contentType: "application/json", body: '{"error":{"code":"not_found","message":"no such API endpoint"}}' }))
      await rita.page.goto(url)
      await rita.page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 30_000 })
      await eventually(async () => (await editorText(rita.page)).includes("Only Ada writes here."), { message: "Rita has the text" })
      await typeInEditor(rita.page, " Rita tries.")
      // The server answers her change with an error message: the page turns read-only.
      await rita.page.locator("[data-testid=read-only]").waitFor({ state: "visible", timeout: 15_000 })
      assert.equal(await rita.page.locator(".ProseMirror").getAttribute("contenteditable"), "false")
      assert.match(await rita.page.locator(".ro-tip").textContent(), /refused/)
      await new Promise(r => setTimeout(r, 500))
      assert.ok(!(await editorText(ada.page)).includes("Rita tries."), "the refused change never reaches Ada")
      await screenshot(rita.page, "read-only-refused")

      // Rita drops her refused change: the page reloads with the server's text, still read-only.
      // Meanwhile Ada moves her caret, so presence messages for the document keep reaching Rita's
      // page while it discards (they once made her old Repo reopen and re-save the refused copy).
      let chatting = true
      const chatter = (async () => {
        await ada.page.locator(".ProseMirror").click()
        while (chatting) {
          await ada.page.keyboard.press(Math.random() < 0.5 ? "ArrowLeft" : "ArrowRight").catch(() => {})
          await new Promise(r => setTimeout(r, 20))
        }
      })()
      try {
        await rita.page.click("[data-testid=discard-local]")
        await rita.page.click("[data-testid=confirm-ok]")
        await rita.page.waitForEvent("load")
        await rita.page.locator(".ProseMirror").waitFor({ timeout: 30_000 })
      } finally {
        chatting = false
        await chatter
      }
      await eventually(async () => (await editorText(rita.page)) === "Only Ada writes here.", { message: "Rita's copy is the server's again" })
      await rita.page.locator("[data-testid=read-only]").waitFor({ state: "visible" })
      assert.equal(await rita.page.locator(".ProseMirror").getAttribute("contenteditable"), "false")
      // Read-only from her remembered role, not because the server refused a change again.
      await new Promise(r => setTimeout(r, 1000))
      assert.doesNotMatch(await rita.page.locator(".ro-tip").textContent(), /refused/, "nothing refused after the discard")
      assert.ok(!(await editorText(ada.page)).includes("Rita tries."), "the refused change never reaches Ada")
    }),
  )
})

describe("history panel", { skip: skip ?? false, timeout: 300_000 }, () => {
  let server
  let browser
  const people = []
  const ctx = () => server

  before(async () => {
    server = await startWeft()
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.close()
    await server?.cleanup()
  })

  it(
    "lists edits, names a version, previews it and restores it for everyone",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      const bob = await person(browser, "Bob")
      people.push(ada, bob)
      const pa = ada.page
      const url = await newDocument(ada, server.url)
      await pa.fill("[data-testid=title]", "Launch plan")
      await pa.locator(".ProseMirror").click()
      await pa.keyboard.type("First draft: ship in ")
      await pa.keyboard.press("Control+b")
      await pa.keyboard.type("March")
      await pa.keyboard.press("Control+b")
      await pa.keyboard.type(".")
      await saved(ada)

      // Open the panel from the keyboard.
      await pa.locator("[data-testid=history-toggle]").focus()
      await pa.keyboard.press("Enter")
      const panel = pa.locator("[data-testid=history-panel]")
      await panel.waitFor({ state: "visible" })
      assert.equal(await pa.locator("[data-testid=history-toggle]").getAttribute("aria-expanded"), "true")
      await pa.locator("[data-testid=session]").first().waitFor({ timeout: 10_000 })
      const first = await pa.locator("[data-testid=session]").first().textContent()
      assert.match(first, /You/, "Ada's own edits are hers")
      assert.match(first, /changes/)

      // Name this version.
      await pa.click("[data-testid=name-version]")
      await pa.fill("[data-testid=version-name]", "Draft 1")
      await pa.keyboard.press("Enter")
      await pa.locator("[data-testid=version]", { hasText: "Draft 1" }).waitFor({ timeout: 10_000 })

      // Bob joins and rewrites the text.
      await bob.page.goto(url)
      await bob.page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 30_000 })
      await eventually(async () => (await editorText(bob.page)).includes("First draft: ship in March."), { message: "Bob has the draft" })
      await bob.page.locator(".ProseMirror").click()
      await bob.page.keyboard.press("Control+a")
      await bob.page.keyboard.type("Rewritten by Bob: ship in June.")
      await eventually(async () => (await editorText(pa)) === "Rewritten by Bob: ship in June.", { message: "Ada sees Bob's rewrite" })
      await saved(bob)

      // The list refreshes by itself and names Bob (learned from his presence).
      await eventually(async () => (await pa.locator("[data-testid=session]").first().textContent()).includes("Bob"), { message: "Bob's session on top" })
      await screenshot(pa, "history-panel")

      // Preview the named version: the old text, with its formatting, read-only.
      await pa.locator("[data-testid=version]", { hasText: "Draft 1" }).click()
      const preview = pa.locator("[data-testid=preview]")
      await preview.waitFor()
      await eventually(async () => (await preview.locator(".ProseMirror").textContent()) === "First draft: ship in March.", { message: "preview shows the old text" })
      assert.equal(await preview.locator(".ProseMirror strong").textContent(), "March")
      assert.equal(await preview.locator(".ProseMirror").getAttribute("contenteditable"), "false")
      assert.equal(await preview.locator(".preview-title").textContent(), "Launch plan")
      assert.match(await pa.locator("[data-testid=preview-bar]").textContent(), /Previewing.*Draft 1/)
      assert.equal(await pa.locator(".doc-page:not(.preview-page)").isVisible(), false, "the live editor is hidden while previewing")
      await screenshot(pa, "history-preview")

      // Back to live, then preview again and restore.
      await pa.click("[data-testid=back-to-live]")
      assert.equal(await preview.count(), 0)
      assert.equal(await editorText(pa), "Rewritten by Bob: ship in June.")
      await pa.locator("[data-testid=version]", { hasText: "Draft 1" }).click()
      await preview.waitFor()
      await pa.click("[data-testid=restore]")
      await pa.locator("[data-testid=confirm]").waitFor()
      await screenshot(pa, "history-restore-confirm")
      await pa.click("[data-testid=confirm-ok]")

      await eventually(async () => (await editorText(pa)) === "First draft: ship in March.", { message: "Ada's page shows the restored text", timeout: 20_000 })
      await eventually(async () => (await editorText(bob.page)) === "First draft: ship in March.", { message: "Bob's page shows the restored text", timeout: 20_000 })
      assert.equal(await pa.locator(".ProseMirror strong").textContent(), "March", "formatting restored")
      assert.equal(await preview.count(), 0, "the preview closed")
      await eventually(async () => (await pa.locator("[data-testid=session]").first().textContent()).includes("Restore"), { message: "the restore is listed" })
      await screenshot(pa, "history-restored")

      // Escape closes the panel and gives focus back to its button.
      await pa.locator("[data-testid=session]").first().focus()
      await pa.keyboard.press("Escape")
      await panel.waitFor({ state: "hidden" })
      assert.equal(await pa.evaluate(() => document.activeElement?.dataset.testid), "history-toggle")
      assert.deepEqual(unexpected(ada), [])
      assert.deepEqual(unexpected(bob), [])
    }),
  )

  it(
    "an edit session previews the document as it was then, and restores with its structure",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      const bob = await person(browser, "Bob")
      people.push(ada, bob)
      const pa = ada.page
      const url = await newDocument(ada, server.url)
      await pa.locator(".ProseMirror").click()
      await pa.keyboard.type("## Goals")
      await pa.keyboard.press("Enter")
      await pa.keyboard.type("Alpha ")
      await pa.keyboard.press("Control+i")
      await pa.keyboard.type("first")
      await pa.keyboard.press("Control+i")
      await saved(ada)
      // Another tab is another Automerge actor: a second session.
      await pa.reload()
      await pa.locator(".ProseMirror[contenteditable=true]").waitFor()
      await typeInEditor(pa, ". Beta.")
      await pa.keyboard.press("Enter")
      await pa.keyboard.type("Gamma.")
      await saved(ada)
      await bob.page.goto(url)
      await bob.page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 30_000 })
      await eventually(async () => (await editorText(bob.page)) === "Goals\nAlpha first. Beta.\nGamma.", { message: "Bob has it all" })

      await pa.click("[data-testid=history-toggle]")
      await eventually(async () => (await pa.locator("[data-testid=session]").count()) >= 2, { message: "two sessions" })
      await pa.locator("[data-testid=session]").last().click()
      const preview = pa.locator("[data-testid=preview]")
      await eventually(async () => (await preview.locator(".ProseMirror").evaluate(el => el.innerText)) === "Goals\n\nAlpha first", { message: "preview of the first session" })
      assert.equal(await preview.locator(".ProseMirror h2").textContent(), "Goals")
      assert.equal(await preview.locator(".ProseMirror em").textContent(), "first")
      // Escape goes back to live.
      await pa.keyboard.press("Escape")
      await preview.waitFor({ state: "detached" })
      assert.equal(await editorText(pa), "Goals\nAlpha first. Beta.\nGamma.")

      // Restore it: headings and emphasis come back, for Bob too.
      await pa.locator("[data-testid=session]").last().click()
      await preview.waitFor()
      await pa.click("[data-testid=restore]")
      await pa.click("[data-testid=confirm-ok]")
      for (const p of [ada, bob]) {
        await eventually(async () => (await editorText(p.page)) === "Goals\nAlpha first", { message: `${p.name} sees the restored text`, timeout: 20_000 })
        assert.equal(await p.page.locator(".ProseMirror h2").textContent(), "Goals")
        assert.equal(await p.page.locator(".ProseMirror em").textContent(), "first")
      }
      assert.deepEqual(unexpected(ada), [])
      assert.deepEqual(unexpected(bob), [])
    }),
  )

  it(
    "pages through a long history with \"load earlier edits\"",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      people.push(ada)
      const pa = ada.page
      await newDocument(ada, server.url)
      await pa.locator(".ProseMirror").click()
      const line = "One keystroke is one change. "
      for (let i = 0; i < 9; i++) await pa.keyboard.type(line) // 261 changes: more than a page (200)
      await saved(ada)
      await pa.click("[data-testid=history-toggle]")
      const more = pa.locator("[data-testid=history-more]")
      await more.waitFor({ state: "visible", timeout: 10_000 })
      assert.match(await pa.locator("[data-testid=session]").first().textContent(), /200 changes/)
      await more.click()
      const count = async () => Number(/([\d,]+) changes/.exec(await pa.locator("[data-testid=session]").first().textContent())?.[1].replace(",", ""))
      await eventually(async () => (await count()) >= 261, { message: `the whole session after loading more` })
      assert.equal(await more.isVisible(), false, "nothing more to load")
      console.log(`# ${await count()} changes in one session after "load earlier edits"`)
    }),
  )

  it(
    "says so when the server has no history API",
    withContext(ctx, people, async () => {
      const ada = await person(browser, "Ada")
      people.push(ada)
      const pa = ada.page
      await pa.route("**/api/docs/**", route =>
        route.fulfill({ status: 404, contentType: "application/json", body: '{"error":{"code":"not_found","message":"no such API endpoint"}}' }),
      )
      await newDocument(ada, server.url)
      await pa.click("[data-testid=history-toggle]")
      await pa.locator("[data-testid=history-unavailable]").waitFor({ state: "visible" })
      assert.match(await pa.locator("[data-testid=history-unavailable]").textContent(), /isn't available/)
      await screenshot(pa, "history-unavailable")
      // The editor keeps working.
      await typeInEditor(pa, "Still editable.")
      await eventually(async () => (await editorText(pa)).includes("Still editable."), { message: "typing works" })
    }),
  )
})
