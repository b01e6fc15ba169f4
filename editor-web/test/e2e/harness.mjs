// End-to-end helpers: start the real weft binary, drive Debian's Chromium with playwright-core, and
// talk to the server from Node with an unmodified automerge-repo client.
import { spawn } from "node:child_process"
import { mkdtemp, mkdir, rm } from "node:fs/promises"
import { existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve, dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { createInterface } from "node:readline"
import { chromium } from "playwright-core"

const here = dirname(fileURLToPath(import.meta.url))
export const editorRoot = resolve(here, "../..")
export const WEFT_BIN = resolve(editorRoot, process.env.WEFT_BIN ?? "../bin/weft")
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium"
export const ARTIFACTS = resolve(editorRoot, "test-results")

/** Skips the suite with a clear reason when the binary or the browser is missing. */
export function prerequisites() {
  if (!existsSync(WEFT_BIN)) return `weft binary not found at ${WEFT_BIN} (build it with 'make build', or set WEFT_BIN)`
  if (!existsSync(CHROMIUM)) return `chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`
  if (!existsSync(join(editorRoot, "dist", "index.html"))) return "editor bundle not built (npm run build)"
  return null
}

/**
 * Starts `weft serve --addr 127.0.0.1:0 --data <dir>` and waits for its "listening on" line.
 * Keeps its output for failure reports. Restartable on the same data directory.
 */
export async function startWeft({ dataDir, args = [] } = {}) {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), "weft-e2e-")))
  const logs = []
  const proc = spawn(WEFT_BIN, ["serve", "--addr", "127.0.0.1:0", "--data", dir, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WEFT_DIST: join(editorRoot, "dist") },
  })
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`weft did not start in 20 s; output:\n${logs.join("\n")}`)), 20_000)
    const onLine = stream => line => {
      logs.push(`[${stream}] ${line}`)
      const m = /weft: listening on (http:\/\/[^\s]+)/.exec(line)
      if (m) {
        clearTimeout(timer)
        resolveUrl(m[1].replace(/\/$/, ""))
      }
    }
    createInterface({ input: proc.stdout }).on("line", onLine("out"))
    createInterface({ input: proc.stderr }).on("line", onLine("err"))
    proc.on("exit", code => {
      clearTimeout(timer)
      reject(new Error(`weft exited with ${code} before listening; output:\n${logs.join("\n")}`))
    })
  })
  let exited = false
  // Never leave a server behind, even if the test runner is killed mid-run.
  const killOnExit = () => proc.kill("SIGKILL")
  process.once("exit", killOnExit)
  proc.on("exit", () => {
    exited = true
    process.off("exit", killOnExit)
  })
  return {
    url,
    dataDir: dir,
    logs,
    async stop() {
      if (exited) return
      const done = new Promise(r => proc.once("exit", r))
      proc.kill("SIGTERM")
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000)
      await done
      clearTimeout(t)
    },
    async cleanup() {
      await this.stop()
      if (!dataDir) await rm(dir, { recursive: true, force: true })
    },
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  })
}

/**
 * A person in their own browser context (own IndexedDB and localStorage), with a remembered name so
 * no dialog interrupts, and every console error and page error collected.
 */
const COLORS = { Ada: "#0090ff", Bob: "#30a46c", Carol: "#8e4ec6" }

export async function person(browser, name, { viewport = { width: 1280, height: 820 } } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 })
  await context.addInitScript(
    ([n, c]) => {
      if (!localStorage.getItem("weft:name")) localStorage.setItem("weft:name", n)
      if (c && !localStorage.getItem("weft:color")) localStorage.setItem("weft:color", c)
    },
    [name, COLORS[name]],
  )
  const page = await context.newPage()
  const errors = []
  page.on("pageerror", e => errors.push(`pageerror: ${e.message}`))
  page.on("console", m => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`)
  })
  return { name, context, page, errors }
}

/**
 * Wraps a test body that uses `people` (from {@link person}); on failure, attaches the server's
 * (`server()`) last log lines and the pages' errors. Closes everyone's browser context after.
 */
export function withContext(server, people, fn) {
  return async () => {
    try {
      await fn()
    } catch (err) {
      const logs = server().logs.slice(-40).join("\n")
      const errors = people.flatMap(p => p.errors.map(e => `${p.name}: ${e}`)).join("\n")
      err.message += `\n--- weft log (last 40 lines) ---\n${logs}\n--- page errors ---\n${errors || "(none)"}`
      throw err
    } finally {
      for (const p of people.splice(0)) await p.context.close().catch(() => {})
    }
  }
}

/** Creates a document from the home page of the server at `base`; returns its URL (without query). */
export async function newDocument(p, base) {
  await p.page.goto(`${base}/`)
  await p.page.click("[data-testid=new-doc]")
  await p.page.locator(".ProseMirror[contenteditable=true]").waitFor()
  return p.page.url().split("?")[0]
}

/** The document page's status pill (data-sync, data-connection, data-local). */
export const status = page => page.locator("[data-testid=status]")

/** Types `text` at the end (or the start) of the editor. */
export async function typeInEditor(page, text, { at = "end" } = {}) {
  await page.locator(".ProseMirror").click()
  await page.keyboard.press(at === "end" ? "Control+End" : "Control+Home")
  await page.keyboard.type(text)
}

/** Opens a document and waits until it can be edited. */
export async function openDoc(p, url) {
  await p.page.goto(url)
  await p.page.locator(".ProseMirror[contenteditable=true]").waitFor({ timeout: 30_000 })
}

/** The editor's text, blocks separated by newlines (other people's caret labels left out). */
export function editorText(page) {
  return page.locator(".ProseMirror").evaluate(el => {
    const copy = el.cloneNode(true)
    copy.querySelectorAll(".remote-caret").forEach(c => c.remove())
    const blocks = []
    copy.querySelectorAll("p, h1, h2, h3, h4, h5, h6, pre").forEach(b => blocks.push(b.textContent))
    return blocks.join("\n")
  })
}

/** Waits until fn() returns a truthy value; returns it. */
export async function eventually(fn, { timeout = 15_000, interval = 100, message = "condition" } = {}) {
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`)
    await new Promise(r => setTimeout(r, interval))
  }
}

export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path })
  return path
}

/** A Node automerge-repo client (websocket only, no storage) connected to the server. */
export async function nodeClient(serverUrl) {
  const { Repo } = await import("@automerge/automerge-repo")
  const { WebSocketClientAdapter } = await import("@automerge/automerge-repo-network-websocket")
  const adapter = new WebSocketClientAdapter(serverUrl.replace(/^http/, "ws") + "/")
  const repo = new Repo({ network: [adapter] })
  await repo.networkSubsystem.whenReady()
  return {
    repo,
    async close() {
      await repo.shutdown()
    },
  }
}
