/**
 * The history panel of a document page: named versions and edit sessions (from the server's
 * history API), a read-only preview of any of them rendered from the local Automerge document
 * (`A.view(doc, heads)`, with formatting), "Name this version", and restore.
 *
 * Restores are made by the server as a new change; it reaches this page (and everyone else's)
 * through sync, like any other edit.
 */
import { next as A } from "@automerge/automerge/slim"
import type { DocHandle } from "@automerge/automerge-repo/slim"
import { EditorState } from "prosemirror-state"
import { EditorView } from "prosemirror-view"
import { ApiError, splitHeads, type Api, type ChangeInfo, type NamedVersion } from "../api"
import { avatar } from "../chrome"
import { confirmDialog, promptDialog } from "../dialog"
import { h, svg, toast } from "../dom"
import type { WeftDoc } from "../editor/editor"
import { schema } from "../editor/schema"
import { icons } from "../icons"
import { relativeTime } from "../recent"
import { sameHeads } from "../heads"
import type { Authors } from "./authors"
import { contentAt, restoreLocally, sameContent } from "./restore"
import { countLabel, groupChanges, mergePages, refreshChanges, type EditSession } from "./group"
import { renderAt, type Rendered } from "./preview"

const PAGE = 200
const REFRESH_MS = 1500

export interface HistoryOptions {
  docId: string
  api: Api
  handle: DocHandle<WeftDoc>
  authors: Authors
  /** The page's toolbar row: the preview bar takes its place while previewing. */
  toolbarRow: HTMLElement
  /** The live editor's toolbar and page, hidden while previewing. */
  liveToolbar: HTMLElement
  liveEl: HTMLElement
  /** Where the preview goes (the document's main column). */
  main: HTMLElement
  /** Called when the preview opens or closes (true: previewing). */
  onPreviewChange?: (previewing: boolean) => void
}

interface Target {
  label: string
  heads: string[]
  when?: number
  /** The list item that opened it (focus returns there). */
  item?: HTMLElement
}

export class HistoryPanel {
  readonly button: HTMLButtonElement
  readonly el: HTMLElement
  #o: HistoryOptions
  #writable = true
  #open = false
  /** The changes loaded so far, newest first. */
  #changes: ChangeInfo[] = []
  #total = 0
  #versions: NamedVersion[] = []
  #loading = false
  #refreshTimer?: ReturnType<typeof setTimeout>
  #generation = 0

  #nameBtn: HTMLButtonElement
  #nameForm: HTMLFormElement
  #nameInput: HTMLInputElement
  #error: HTMLElement
  #notice: HTMLElement
  #versionsSection: HTMLElement
  #versionsList: HTMLElement
  #sessionsList: HTMLElement
  #sessionsSection: HTMLElement
  #more: HTMLButtonElement
  #loadingEl: HTMLElement

  #preview: { target: Target; view: EditorView; bar: HTMLElement; page: HTMLElement; toolbarWasHidden: boolean } | null = null

  constructor(opts: HistoryOptions) {
    this.#o = opts
    this.button = h(
      "button",
      {
        type: "button",
        class: "btn btn-ghost history-btn",
        "aria-expanded": "false",
        "aria-controls": "history-panel",
        title: "Version history",
        "data-testid": "history-toggle",
      },
      svg(icons.history),
      h("span", {}, "History"),
    )
    this.button.addEventListener("click", () => this.toggle())

    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close version history", title: "Close (Esc)" }, svg(icons.x))
    close.addEventListener("click", () => this.close())

    this.#nameBtn = h("button", { type: "button", class: "btn btn-secondary btn-sm", "data-testid": "name-version" }, svg(icons.tag), "Name this version")
    this.#nameInput = h("input", { class: "input input-sm", type: "text", maxlength: 100, placeholder: "e.g. Draft 1", "aria-label": "Version name", "data-testid": "version-name" })
    const cancelName = h("button", { type: "button", class: "btn btn-ghost btn-sm" }, "Cancel")
    this.#nameForm = h(
      "form",
      { class: "hp-name-form", hidden: true },
      h("label", { class: "hp-name-label" }, "Name the current version"),
      this.#nameInput,
      h("div", { class: "hp-name-actions" }, cancelName, h("button", { type: "submit", class: "btn btn-primary btn-sm", "data-testid": "version-save" }, "Save")),
    )
    this.#nameBtn.addEventListener("click", () => this.#startNaming())
    cancelName.addEventListener("click", () => this.#stopNaming())
    this.#nameForm.addEventListener("submit", e => {
      e.preventDefault()
      void this.#saveName()
    })

    this.#error = h("p", { class: "hp-error", role: "alert", hidden: true, "data-testid": "history-error" })
    this.#notice = h("div", { class: "hp-notice", hidden: true, "data-testid": "history-unavailable" })
    this.#loadingEl = h("div", { class: "hp-loading", hidden: true }, h("div", { class: "progress" }, h("div", { class: "progress-fill indeterminate" })))
    this.#versionsList = h("ul", { class: "hp-list", "aria-label": "Named versions" })
    this.#versionsSection = h("section", { class: "hp-section", hidden: true }, h("h3", { class: "hp-section-title" }, "Named versions"), this.#versionsList)
    this.#sessionsList = h("ul", { class: "hp-list", "aria-label": "Edits", "data-testid": "sessions" })
    this.#more = h("button", { type: "button", class: "btn btn-ghost btn-sm hp-more", hidden: true, "data-testid": "history-more" }, "Load earlier edits")
    this.#more.addEventListener("click", () => void this.#loadMore())
    this.#sessionsSection = h("section", { class: "hp-section", hidden: true }, h("h3", { class: "hp-section-title" }, "Edits"), this.#sessionsList, this.#more)

    this.el = h(
      "aside",
      { class: "history-panel", id: "history-panel", "aria-label": "Version history", hidden: true, tabindex: -1, "data-testid": "history-panel" },
      h("div", { class: "hp-head" }, h("h2", { class: "hp-title" }, "Version history"), close),
      h("div", { class: "hp-actions" }, this.#nameBtn),
      this.#nameForm,
      h("div", { class: "hp-body" }, this.#error, this.#notice, this.#loadingEl, this.#versionsSection, this.#sessionsSection),
    )
    this.el.addEventListener("keydown", e => {
      if (e.key === "Escape" && !e.defaultPrevented) {
        e.preventDefault()
        if (!this.#nameForm.hidden) this.#stopNaming()
        else if (this.#preview) this.exitPreview()
        else this.close()
      }
    })
    // Arrow keys move between entries.
    this.el.addEventListener("keydown", e => {
      if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return
      const items = [...this.el.querySelectorAll<HTMLElement>(".hp-item")]
      const i = items.indexOf(document.activeElement as HTMLElement)
      if (i < 0) return
      e.preventDefault()
      items[Math.max(0, Math.min(items.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))]?.focus()
    })

    opts.handle.on("heads-changed", this.#onHeads)
    document.addEventListener("keydown", this.#onDocKey)
  }

  get isOpen(): boolean {
    return this.#open
  }

  get previewing(): boolean {
    return this.#preview !== null
  }

  /** Read-only people browse and preview; they cannot name versions or restore. */
  setWritable(writable: boolean) {
    this.#writable = writable
    this.#nameBtn.hidden = !writable
    if (!writable) this.#stopNaming()
    const restore = this.#preview?.bar.querySelector<HTMLElement>("[data-testid=restore]")
    if (restore) restore.hidden = !writable
    const nameHere = this.#preview?.bar.querySelector<HTMLElement>("[data-testid=preview-name]")
    if (nameHere) nameHere.hidden = !writable
  }

  toggle() {
    if (this.#open) this.close()
    else this.open()
  }

  open() {
    if (this.#open) return
    this.#open = true
    this.el.hidden = false
    this.button.setAttribute("aria-expanded", "true")
    this.button.classList.add("active")
    document.body.classList.add("history-open")
    this.el.focus()
    void this.reload()
  }

  close() {
    if (!this.#open) return
    this.#open = false
    this.el.hidden = true
    this.button.setAttribute("aria-expanded", "false")
    this.button.classList.remove("active")
    document.body.classList.remove("history-open")
    clearTimeout(this.#refreshTimer)
    this.#stopNaming()
    this.button.focus()
  }

  destroy() {
    clearTimeout(this.#refreshTimer)
    this.#generation++
    this.#o.handle.off("heads-changed", this.#onHeads)
    document.removeEventListener("keydown", this.#onDocKey)
    document.body.classList.remove("history-open")
    this.exitPreview()
    this.el.remove()
  }

  /** Loads (again) the named versions and the newest edits, as many as are shown now. */
  async reload() {
    const gen = ++this.#generation
    const { api, docId } = this.#o
    this.#loading = true
    this.#loadingEl.hidden = this.#changes.length > 0
    try {
      const [page, versions] = await Promise.all([
        api.history(docId, { limit: PAGE, skip: 0 }),
        api.versions(docId).catch(err => {
          if (err instanceof ApiError && err.unavailable) return [] as NamedVersion[]
          throw err
        }),
      ])
      if (gen !== this.#generation) return
      this.#changes = refreshChanges(this.#changes, page.changes)
      this.#total = page.total
      this.#versions = versions
      this.#showError(null)
      this.#notice.hidden = true
      this.#render()
    } catch (err) {
      if (gen !== this.#generation) return
      this.#failed(err)
    } finally {
      if (gen === this.#generation) {
        this.#loading = false
        this.#loadingEl.hidden = true
      }
    }
  }

  async #loadMore() {
    if (this.#loading) return
    const gen = this.#generation
    // Counted from the newest change, so the ones loaded so far (newer ones included) are skipped.
    const skip = this.#changes.length
    this.#loading = true
    this.#more.disabled = true
    this.#more.textContent = "Loading…"
    try {
      const page = await this.#o.api.history(this.#o.docId, { limit: PAGE, skip })
      if (gen !== this.#generation) return
      this.#changes = mergePages([this.#changes, page.changes])
      this.#total = page.total
      this.#render()
    } catch (err) {
      if (gen === this.#generation) this.#showError(messageOf(err))
    } finally {
      this.#loading = false
      this.#more.disabled = false
      this.#more.textContent = "Load earlier edits"
    }
  }

  #failed(err: unknown) {
    if (err instanceof ApiError && err.unavailable) {
      this.#notice.replaceChildren(
        svg(icons.history),
        h("strong", {}, "History isn't available on this server yet"),
        h("p", {}, "This weft server does not offer the history API. Versions will appear here once it does; your document is not affected."),
      )
      this.#notice.hidden = false
      this.#nameBtn.disabled = true
      this.#versionsSection.hidden = true
      this.#sessionsSection.hidden = true
      this.#showError(null)
      return
    }
    this.#showError(messageOf(err))
  }

  #showError(message: string | null) {
    this.#error.textContent = message ?? ""
    this.#error.hidden = message === null
  }

  #render() {
    this.#nameBtn.disabled = false
    const { authors } = this.#o
    const now = Date.now()
    const selected = this.#preview?.target.heads.join(",")

    // Named versions, newest first.
    const versions = [...this.#versions].sort((a, b) => (Date.parse(b.time ?? "") || 0) - (Date.parse(a.time ?? "") || 0))
    this.#versionsList.replaceChildren(
      ...versions.map(v => {
        const when = v.time ? Date.parse(v.time) : undefined
        const heads = splitHeads(v.heads)
        const meta = [v.user ? `by ${v.user}` : "", when ? relativeTime(when, now) : ""].filter(Boolean).join(" · ")
        const item = h(
          "button",
          { type: "button", class: "hp-item", "data-testid": "version", "data-heads": v.heads, title: when ? new Date(when).toLocaleString() : null },
          h("span", { class: "hp-icon hp-icon-tag" }, svg(icons.tag)),
          h("span", { class: "hp-item-main" }, h("span", { class: "hp-item-title" }, v.name), meta ? h("span", { class: "hp-item-meta" }, meta) : null),
        )
        if (selected === heads.join(",")) item.setAttribute("aria-current", "true")
        item.addEventListener("click", () => void this.preview({ label: `“${v.name}”`, heads, when, item }))
        return h("li", {}, item)
      }),
    )
    this.#versionsSection.hidden = versions.length === 0

    const changes = this.#changes
    const sessions = groupChanges(changes, { fromNewest: true })
    const myName = (s: EditSession) => {
      const a = authors.get(s.actor)
      if (a?.me) return { name: "You", color: a.color, known: true }
      if (a) return { name: a.name, color: a.color, known: true }
      if (s.message) return { name: "weft", color: "#656d76", known: false }
      return { name: "Someone", color: "#8b949e", known: false }
    }
    this.#sessionsList.replaceChildren(
      ...sessions.map(s => {
        const who = myName(s)
        const when = s.end
        const range = s.start && s.end && s.end - s.start > 60_000 ? `${new Date(s.start).toLocaleString()} – ${new Date(s.end).toLocaleTimeString()}` : when ? new Date(when).toLocaleString() : "time unknown"
        const title = s.message ? s.message : `${who.name}${who.known ? "" : ` (${s.actor.slice(0, 8)})`}`
        const meta = [s.message ? "" : countLabel(s.count), when ? relativeTime(when, now) : ""].filter(Boolean).join(" · ")
        const item = h(
          "button",
          {
            type: "button",
            class: `hp-item${s.message ? " hp-item-system" : ""}`,
            "data-testid": "session",
            "data-heads": s.heads.join(","),
            title: `${range}${s.message ? "" : ` · ${countLabel(s.count)}`}`,
          },
          s.message ? h("span", { class: "hp-icon" }, svg(icons.restore)) : avatar(who.name === "You" ? (authors.get(s.actor)?.name ?? "You") : who.name, who.color, "avatar-sm"),
          h("span", { class: "hp-item-main" }, h("span", { class: "hp-item-title" }, title), h("span", { class: "hp-item-meta" }, meta)),
          s.current ? h("span", { class: "hp-badge" }, "Current") : null,
        )
        if (selected === s.heads.join(",")) item.setAttribute("aria-current", "true")
        const label = s.message ? `“${s.message}”` : `${who.name === "You" ? "your" : `${who.name}’s`} edits${when ? ` ${relativeTime(when, now) === "just now" ? "just now" : relativeTime(when, now)}` : ""}`
        item.addEventListener("click", () => void this.preview({ label, heads: s.heads, when, item }))
        return h("li", {}, item)
      }),
    )
    if (sessions.length === 0) this.#sessionsList.append(h("li", { class: "hp-empty" }, "No edits yet."))
    this.#sessionsSection.hidden = false
    const loaded = changes.length
    this.#more.hidden = loaded >= this.#total || loaded === 0
  }

  #startNaming() {
    if (!this.#writable) return
    this.#nameForm.hidden = false
    this.#nameBtn.hidden = true
    this.#nameInput.value = ""
    this.#nameInput.focus()
  }

  #stopNaming() {
    this.#nameForm.hidden = true
    this.#nameBtn.hidden = !this.#writable
  }

  async #saveName(heads?: string[]) {
    const name = this.#nameInput.value.trim()
    if (!name) {
      this.#nameInput.focus()
      return
    }
    const submit = this.#nameForm.querySelector<HTMLButtonElement>("[type=submit]")!
    submit.disabled = true
    try {
      await this.#o.api.createVersion(this.#o.docId, name, heads)
      this.#stopNaming()
      toast(`Saved this version as “${name}”.`)
      await this.reload()
      this.#nameBtn.focus()
    } catch (err) {
      this.#showError(messageOf(err))
    } finally {
      submit.disabled = false
    }
  }

  /** Names the version being previewed. */
  async #namePreviewed(target: Target) {
    const name = await promptDialog("Name this version", "A name makes this version easy to find in the history.", "e.g. Draft 1")
    if (!name) return
    try {
      await this.#o.api.createVersion(this.#o.docId, name, target.heads)
      toast(`Saved this version as “${name}”.`)
      if (this.#open) void this.reload()
    } catch (err) {
      toast(messageOf(err))
    }
  }

  #onHeads = () => {
    if (!this.#open) return
    clearTimeout(this.#refreshTimer)
    this.#refreshTimer = setTimeout(() => void this.reload(), REFRESH_MS)
  }

  #onDocKey = (e: KeyboardEvent) => {
    if (e.key === "Escape" && this.#preview && !e.defaultPrevented && !document.querySelector("dialog[open]")) {
      if (this.el.contains(document.activeElement) && this.#open) return // the panel's own handler
      e.preventDefault()
      this.exitPreview()
    }
  }

  /** Shows the document as it was at `target.heads`, read-only, in place of the live editor. */
  async preview(target: Target) {
    const gen = ++this.#previewGen
    let rendered: Rendered
    try {
      rendered = await renderAt(this.#o.handle, this.#o.api, this.#o.docId, target.heads)
    } catch (err) {
      if (gen === this.#previewGen) this.#showError(`Could not show this version: ${messageOf(err)}`)
      return
    }
    if (gen !== this.#previewGen) return
    this.#showError(null)
    this.exitPreview(false)

    const { toolbarRow, liveToolbar, liveEl, main } = this.#o
    const restore = h("button", { type: "button", class: "btn btn-primary btn-sm", "data-testid": "restore", hidden: !this.#writable }, svg(icons.restore), "Restore this version")
    const back = h("button", { type: "button", class: "btn btn-secondary btn-sm", "data-testid": "back-to-live" }, "Back to live")
    const nameHere = h("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "preview-name", hidden: !this.#writable }, svg(icons.tag), "Name")
    const bar = h(
      "div",
      { class: "preview-bar", role: "region", "aria-label": "Version preview", "data-testid": "preview-bar" },
      h("span", { class: "preview-icon" }, svg(icons.eye)),
      h(
        "span",
        { class: "preview-label" },
        "Previewing ",
        h("strong", {}, target.label),
        target.when ? h("span", { class: "preview-when", title: new Date(target.when).toLocaleString() }, ` · ${new Date(target.when).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}`) : null,
        rendered.approximate ? h("span", { class: "preview-when" }, " · without formatting") : null,
      ),
      h("span", { class: "preview-actions" }, nameHere, back, restore),
    )
    back.addEventListener("click", () => this.exitPreview())
    restore.addEventListener("click", () => void this.#restore(target))
    nameHere.addEventListener("click", () => void this.#namePreviewed(target))

    const titleEl = h("h1", { class: "doc-title preview-title" }, rendered.title || "Untitled")
    if (!rendered.title) titleEl.classList.add("untitled")
    const body = h("div", { class: "doc-body" })
    const page = h("div", { class: "doc-page preview-page", "data-testid": "preview" }, titleEl, body)
    const view = new EditorView(body, {
      state: EditorState.create({ schema, doc: rendered.doc }),
      editable: () => false,
      attributes: { class: "prose", "aria-label": "Document text at this version", "aria-readonly": "true" },
    })
    const toolbarWasHidden = toolbarRow.hidden
    liveToolbar.hidden = true
    toolbarRow.append(bar)
    toolbarRow.hidden = false
    toolbarRow.classList.add("previewing")
    liveEl.hidden = true
    main.append(page)
    this.#preview = { target, view, bar, page, toolbarWasHidden }
    for (const el of this.el.querySelectorAll(".hp-item[aria-current]")) el.removeAttribute("aria-current")
    target.item?.setAttribute("aria-current", "true")
    this.#o.onPreviewChange?.(true)
  }
  #previewGen = 0

  /** Back to the live document. */
  exitPreview(focusItem = true) {
    const p = this.#preview
    if (!p) return
    this.#preview = null
    p.view.destroy()
    p.bar.remove()
    p.page.remove()
    const { toolbarRow, liveToolbar, liveEl } = this.#o
    toolbarRow.classList.remove("previewing")
    liveToolbar.hidden = false
    toolbarRow.hidden = p.toolbarWasHidden
    liveEl.hidden = false
    for (const el of this.el.querySelectorAll(".hp-item[aria-current]")) el.removeAttribute("aria-current")
    if (focusItem && p.target.item?.isConnected && this.#open) p.target.item.focus()
    this.#o.onPreviewChange?.(false)
  }

  async #restore(target: Target) {
    if (!this.#writable) return
    const ok = await confirmDialog(
      "Restore this version?",
      `The document goes back to ${target.label}${target.when ? ` (${new Date(target.when).toLocaleString()})` : ""} for everyone editing it. Nothing is lost: the current text stays in the history and can be restored too.`,
      "Restore",
    )
    if (!ok) return
    const btn = this.#preview?.bar.querySelector<HTMLButtonElement>("[data-testid=restore]")
    if (btn) btn.disabled = true
    const when = target.when ? new Date(target.when).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : ""
    const message = `Restore ${target.label.startsWith("“") ? target.label : when || target.label}`
    const { api, docId, handle } = this.#o
    const want = contentAt(handle.doc() as A.Doc<WeftDoc>, target.heads)
    try {
      let changed: boolean
      try {
        const res = await api.restore(docId, target.heads, message)
        changed = res.changed
        // The server's engine brings back plain text only: put the formatting back once its change is here.
        if (want) void this.#completeRestore(splitHeads(res.heads), want, target.heads, message)
      } catch (err) {
        // The server cannot restore this document (rich-text blocks), or has no restore: do it here.
        const serverCannot = err instanceof ApiError && (err.unavailable || (err.status === 400 && err.code === "bad_edit"))
        if (!serverCannot || !want) throw err
        changed = !sameContent(handle.doc() as A.Doc<WeftDoc>, want)
        restoreLocally(handle, target.heads, message)
      }
      this.exitPreview(false)
      toast(changed ? "Version restored. Everyone sees it now." : "The document already matches this version.")
      if (this.#open) void this.reload()
    } catch (err) {
      if (btn) btn.disabled = false
      toast(`Could not restore: ${messageOf(err)}`)
    }
  }

  /** After the server's restore arrives: if the text is right but the formatting is not, restore the rich text here. */
  async #completeRestore(serverHeads: string[], want: NonNullable<ReturnType<typeof contentAt>>, heads: string[], message: string) {
    const handle = this.#o.handle
    const arrived = () => {
      const doc = handle.doc() as A.Doc<WeftDoc>
      return serverHeads.length > 0 && A.hasHeads(doc, serverHeads as A.Heads)
    }
    const deadline = Date.now() + 10_000
    while (!arrived() && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
    if (!arrived()) return
    const doc = handle.doc() as A.Doc<WeftDoc>
    // Only if nobody edited since: then the document should be exactly the version.
    if (!sameHeads(A.getHeads(doc), serverHeads)) return
    if (sameContent(doc, want)) return
    restoreLocally(handle, heads, `${message} (formatting)`)
  }
}

function messageOf(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return `Not signed in: ${err.message}.`
    if (err.status === 403) return `Not allowed: ${err.message}.`
    return err.message ? err.message.charAt(0).toUpperCase() + err.message.slice(1) : "The server refused."
  }
  return (err as Error)?.message ?? String(err)
}
