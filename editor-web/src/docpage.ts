import { isValidDocumentId, type DocHandle, type DocumentId } from "@automerge/automerge-repo/slim"
import { Api, ApiError, type Me, type Role } from "./api"
import { askName, avatar, header, nameChip, refreshNameChips } from "./chrome"
import { h, svg, toast } from "./dom"
import { DocumentEditor, type WeftDoc } from "./editor/editor"
import { icons } from "./icons"
import { Authors } from "./history/authors"
import { HistoryPanel, confirmDialog } from "./history/panel"
import { identity, saveName, savedName } from "./identity"
import type { AppContext, Page } from "./page"
import type { Peer } from "./presence/state"
import { rememberDoc } from "./recent"
import { clearDiscard, discardRequested, onDiscardElsewhere, replaceStoredCopy, requestDiscard } from "./discard"
import { LocalSaver } from "./localsave"
import { loadAutomerge, openStorage, type Client } from "./repo"
import type { Status } from "./status"
import { SyncTracker } from "./sync"
import { next as A } from "@automerge/automerge/slim"

const ROLES_KEY = "weft:roles"

/** The role last learned for a document, so an offline reload of a read-only document stays read-only. */
function cachedRole(id: string): Role | null {
  try {
    const v = JSON.parse(localStorage.getItem(ROLES_KEY) ?? "{}")?.[id]
    return v === "read" || v === "write" || v === "admin" || v === "none" ? v : null
  } catch {
    return null
  }
}

function cacheRole(id: string, role: Role) {
  try {
    const all = JSON.parse(localStorage.getItem(ROLES_KEY) ?? "{}") as Record<string, Role>
    delete all[id]
    all[id] = role
    const keys = Object.keys(all)
    for (const k of keys.slice(0, Math.max(0, keys.length - 200))) delete all[k]
    localStorage.setItem(ROLES_KEY, JSON.stringify(all))
  } catch {
    // a convenience only
  }
}

/** The document page: /d/<id>. */
export function mountDocument(ctx: AppContext, id: string): Page {
  document.title = "Opening… · weft"
  const cleanups: (() => void)[] = []
  let unmounted = false

  const crumb = h("span", { class: "crumb", "data-testid": "crumb" }, "")
  const statusEl = statusPill()
  const people = h("ul", { class: "people", "aria-label": "People here", "data-testid": "people" })
  const shareBtn = h("button", { type: "button", class: "btn btn-secondary share-btn", "data-testid": "copy-link", disabled: true }, svg(icons.link), h("span", {}, "Copy link"))
  let onRename = (_name: string) => {}
  const crumbSep = h("span", { class: "crumb-sep", hidden: true }, "/")
  // The status pill and the share button appear once the document is open.
  statusEl.el.hidden = true
  shareBtn.hidden = true
  // "Read only", with the reason in a tooltip (hover or keyboard focus).
  const roTip = h("span", { class: "ro-tip", role: "tooltip", id: "ro-tip" }, "")
  const roBadge = h(
    "span",
    { class: "ro-badge", tabindex: 0, "aria-describedby": "ro-tip", "data-testid": "read-only", hidden: true },
    svg(icons.lock),
    h("span", { class: "ro-label" }, "Read only"),
    roTip,
  )
  // When the server refused changes made here: drop this browser's copy and load the server's.
  const discardBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm discard-btn", hidden: true, "data-testid": "discard-local" }, "Discard my changes")
  const historySlot = h("span", { class: "history-slot" })
  const top = header([crumbSep, crumb, statusEl.el, roBadge, discardBtn], [people, historySlot, shareBtn, nameChip(n => onRename(n))])
  const toolbarRow = h("div", { class: "toolbar-row", hidden: true })
  const main = h("main", { class: "doc-main" })
  const page = h("div", { class: "app docview" }, top, toolbarRow, main)
  ctx.root.append(page)

  shareBtn.addEventListener("click", () => copyLink(`${location.origin}/d/${id}`))

  // Who we are on this document (GET /api/me, with the WebSocket's credentials), asked at once so
  // the answer is usually in before the document is. Until then, the last known role applies.
  const api = new Api({ base: import.meta.env.VITE_WEFT_URL || location.origin })
  let me: Me | null = null
  const meReady: Promise<Me | null> = isValidDocumentId(id)
    ? api.me(id).then(
        m => {
          me = m
          cacheRole(id, m.role)
          return m
        },
        () => null, // an older server, or offline: the WebSocket decides
      )
    : Promise.resolve(null)

  if (!isValidDocumentId(id)) {
    document.title = "Invalid link · weft"
    main.append(
      messageCard(
        "This link is not valid",
        "The address does not contain a weft document ID. Check that you copied the whole link.",
        [h("a", { class: "btn btn-primary", href: "/", "data-nav": true }, "Go to your documents")],
      ),
    )
    return { unmount() {} }
  }

  // Loading screen: what is happening, and how far along.
  const stage = h("p", { class: "loading-stage", "data-testid": "loading-stage" }, "Starting…")
  const bar = h("div", { class: "progress-fill" })
  const hint = h("p", { class: "loading-hint", hidden: true })
  const loading = h(
    "div",
    { class: "loading-card", role: "status", "aria-live": "polite", "data-testid": "loading" },
    h("div", { class: "progress", "aria-hidden": "true" }, bar),
    stage,
    hint,
  )
  main.append(loading)
  const setStage = (text: string, pct: number | null) => {
    stage.textContent = text
    bar.classList.toggle("indeterminate", pct === null)
    if (pct !== null) bar.style.width = `${pct}%`
  }
  setStage("Loading the editor…", 10)
  const slow = setTimeout(() => {
    hint.textContent = "This is taking longer than usual. Large documents can take a few seconds."
    hint.hidden = false
  }, 8000)
  cleanups.push(() => clearTimeout(slow))

  void (async () => {
    // "Discard my changes" reloaded the page: replace the stored copy with the server's before
    // the Repo opens the document (see src/discard.ts).
    if (discardRequested(id) && !(await finishDiscard())) return
    const client = await ctx.client()
    if (unmounted) return
    const { repo, adapter } = client
    adapter.onLargeMessage = bytes => {
      performance.mark("weft:large-message", { detail: bytes })
      setStage(`Received ${formatBytes(bytes)} from the server. Opening…`, 85)
    }
    cleanups.push(() => (adapter.onLargeMessage = undefined))

    const progress = repo.findWithProgress<WeftDoc>(id as DocumentId)
    const onProgress = (p: typeof progress) => {
      if (unmounted) return
      switch (p.state) {
        case "loading":
          if (p.progress <= 25) setStage("Looking for it on this device…", 25)
          else if (p.progress <= 50) setStage("Found on this device. Opening…", 60)
          else setStage(adapter.info.state === "connected" ? "Asking the server…" : "Connecting to the server…", null)
          break
        case "ready":
          void open(client, p.handle)
          break
        case "unavailable":
          unavailable(client, p.handle)
          break
        case "failed":
        case "aborted":
          showError(p.state === "failed" ? p.error.message : "Loading was cancelled.")
          break
      }
    }
    onProgress(progress)
    if ("subscribe" in progress) {
      const unsub = progress.subscribe(onProgress)
      cleanups.push(() => unsub())
    }
  })().catch(err => showError(String(err?.message ?? err)))

  let opened = false
  async function open(client: Client, handle: DocHandle<WeftDoc>) {
    if (opened || unmounted) return
    opened = true
    performance.mark("weft:doc-ready")
    setStage("Preparing the editor…", 95)
    await nextPaint()
    if (unmounted) return
    const { repo, adapter } = client
    const t0 = performance.now()

    // Everyone else who has the document open; "you" is the chip next to it.
    const renderPeers = (peers: Peer[]) => {
      const shown = peers.slice(0, 5)
      people.replaceChildren(
        ...shown.map(p =>
          h("li", { class: "person", "data-name": p.name, "data-testid": "person" }, avatar(p.name, p.color), h("span", { class: "person-name", role: "tooltip" }, p.name)),
        ),
      )
      if (peers.length > shown.length) {
        const rest = peers.slice(shown.length).map(p => p.name).join(", ")
        people.append(h("li", { class: "person person-more", title: rest }, h("span", { class: "avatar" }, `+${peers.length - shown.length}`)))
      }
      people.setAttribute("aria-label", peers.length ? `Also here: ${peers.map(p => p.name).join(", ")}` : "Nobody else is here")
    }

    const authors = new Authors(id)
    const editor = new DocumentEditor({
      handle,
      identity: identity(),
      onPeers: peers => {
        for (const p of peers) if (p.actor) authors.learn(p.actor, p.name, p.color)
        renderPeers(peers)
      },
      onChange: change => {
        setTitle(change.title)
        tracker.schedule()
      },
    })
    cleanups.push(() => editor.destroy())
    const tracker = new SyncTracker(repo, handle as DocHandle<unknown>, adapter, s => statusEl.update(s, () => adapter.retryNow()))
    cleanups.push(() => tracker.destroy())
    // Every change goes to this browser's storage at once, not 100 ms later (src/localsave.ts), so
    // a reload or a closed tab right after typing keeps it, online or not.
    const saver = new LocalSaver(repo, handle as DocHandle<unknown>, { onState: s => tracker.setLocal(s) })
    tracker.setLocal(saver.state)
    cleanups.push(() => {
      void saver.flushNow().catch(() => {}) // leaving for another page of the app
      saver.stop()
    })

    let shownTitle: string | null = null
    const setTitle = (title: string) => {
      if (title === shownTitle) return
      shownTitle = title
      const t = title.trim() || "Untitled"
      crumb.textContent = t
      crumb.classList.toggle("untitled", !title.trim())
      document.title = `${t} · weft`
      rememberDoc(id, title.trim())
    }
    setTitle(handle.doc().title ?? "")

    const learnMe = () => {
      const mine = identity()
      try {
        authors.learn(A.getActorId(handle.doc() as A.Doc<unknown>), mine.name, mine.color, true)
      } catch {
        // no document yet
      }
    }
    learnMe()
    onRename = () => {
      editor.presence.setIdentity(identity())
      learnMe()
    }
    renderPeers([])

    let discarding = false
    // Read-only mode: from the role (/api/me), or because the server refused our changes.
    const setReadOnly = (why: string | null) => {
      const ro = why !== null
      editor.setReadOnly(ro)
      roBadge.hidden = !ro
      roTip.textContent = why ?? ""
      roBadge.setAttribute("aria-label", ro ? `Read only: ${why}` : "")
      page.classList.toggle("is-read-only", ro)
      if (!historyPanel.previewing) toolbarRow.hidden = ro
      historyPanel.setWritable(!ro)
    }
    const roleReason = (m: Me) =>
      `You can read this document and see others edit it live, but not change it: ${m.name || m.user ? `${m.name || m.user}’s` : "your"} access is read-only. Ask the document’s owner for write access.`
    const applyRole = (m: Me | null, role: Role | null) => {
      if (role === "read") setReadOnly(m ? roleReason(m) : "You can read this document but not change it: your access is read-only.")
      else if (role === "write" || role === "admin") setReadOnly(null)
    }
    const onServerError = (message: string) => {
      if (!/read-only|read only|not allowed|forbidden|permission/i.test(message)) return
      if (/document/i.test(message) && !message.includes(id)) return // about another document
      setReadOnly(`The server refused your changes (${message.replace(/\.$/, "")}). Changes made here are not saved.`)
      cacheRole(id, "read")
      discardBtn.hidden = false
    }
    discardBtn.addEventListener("click", async () => {
      const ok = await confirmDialog(
        "Discard your changes?",
        "The changes made in this browser were refused by the server and will never be saved. Discarding them removes this browser's copy of the document and loads it again from the server.",
        "Discard and reload",
      )
      if (!ok) return
      // This page's Repo has the document open and may still write it to storage (a pending save,
      // a flush on pagehide, a message that reopens it), so the copy is replaced by the next page
      // before anything opens it there. Other tabs with the document open reload too.
      discarding = true
      if (!requestDiscard(id)) {
        discarding = false
        toast("This browser does not allow saving data for this site, so its copy cannot be replaced. Close every tab of this document to drop it.")
        return
      }
      saver.stop()
      location.reload()
    })
    // Another tab discarded its copy: this one holds the same refused changes, and would give them
    // back to it through the tab channel. Reload without saving.
    cleanups.push(
      onDiscardElsewhere(id, () => {
        if (discarding) return // our own request (a channel also reaches other listeners in this page)
        discarding = true
        saver.stop()
        location.reload()
      }),
    )
    client.adapter.onServerError = onServerError
    cleanups.push(() => {
      if (client.adapter.onServerError === onServerError) client.adapter.onServerError = undefined
    })

    const historyPanel = new HistoryPanel({
      docId: id,
      api,
      handle,
      authors,
      toolbarRow,
      liveToolbar: editor.toolbar.el,
      liveEl: editor.el,
      main,
      onPreviewChange: previewing => {
        page.classList.toggle("is-previewing", previewing)
        if (!previewing) toolbarRow.hidden = editor.readOnly
      },
    })
    cleanups.push(() => historyPanel.destroy())
    historySlot.append(historyPanel.button)
    page.append(historyPanel.el)

    loading.remove()
    toolbarRow.append(editor.toolbar.el)
    toolbarRow.hidden = false
    main.append(editor.el)
    // Start read-only when that is what we know (role answered, or remembered); writable otherwise.
    applyRole(me, me?.role ?? cachedRole(id))
    void meReady.then(m => {
      if (!unmounted && m) applyRole(m, m.role)
    })
    shareBtn.disabled = false
    shareBtn.hidden = false
    statusEl.el.hidden = false
    crumbSep.hidden = false
    editor.focus()
    performance.measure("weft:editor-build", { start: t0 })
    performance.mark("weft:editor-ready")

    // Warn before leaving while changes made here are not on the server, or not even stored in
    // this browser yet (a write still under way, or failing): leaving then loses them.
    const beforeUnload = (e: BeforeUnloadEvent) => {
      if (discarding) return
      const unstored = saver.hasUnsavedLocalChanges()
      if (unstored) void saver.flushNow().catch(() => {})
      if (tracker.status.sync === "unsynced" || unstored) {
        e.preventDefault()
        e.returnValue = "" // older browsers need a value to show the prompt
      }
    }
    window.addEventListener("beforeunload", beforeUnload)
    cleanups.push(() => window.removeEventListener("beforeunload", beforeUnload))
    // Normally everything is stored already. When a write is still pending as the page is hidden
    // or goes away, start one more now: its transaction commits at once (src/idb.ts), so it
    // completes even if the page does not. (pagehide comes before the page is "hidden".)
    const flush = (e: Event) => {
      if (discarding) return
      if (e.type === "pagehide" || document.visibilityState === "hidden") void saver.flushNow().catch(() => {})
    }
    document.addEventListener("visibilitychange", flush)
    window.addEventListener("pagehide", flush)
    cleanups.push(() => {
      document.removeEventListener("visibilitychange", flush)
      window.removeEventListener("pagehide", flush)
    })

    // A signed-in user's name (from the token) is the default display name.
    const signedIn = await Promise.race([meReady, new Promise<null>(r => setTimeout(() => r(null), 1500))])
    if (!savedName() && signedIn?.name && !unmounted) {
      saveName(signedIn.name)
      refreshNameChips()
      onRename(signedIn.name)
    }
    if (!savedName()) {
      const name = await askName()
      if (name && !unmounted) onRename(name)
      editor.focus()
    }
  }

  /**
   * Replaces this browser's stored copy with the server's (the second half of "Discard my
   * changes"), checked against the server's heads. Retries a few times; when the server's copy
   * cannot be had (offline), says so and keeps the request for the next load. True when done.
   */
  async function finishDiscard(): Promise<boolean> {
    setStage("Discarding your changes: loading the server's copy…", 20)
    let lastError: unknown
    for (let attempt = 0; attempt < 3 && !unmounted; attempt++) {
      const storage = openStorage()
      try {
        await loadAutomerge()
        const { bytes, heads } = await api.binary(id)
        await replaceStoredCopy(storage, id, bytes, heads)
        clearDiscard(id)
        return true
      } catch (err) {
        lastError = err
        if (err instanceof ApiError && err.status === 0) break // offline: retrying now will not help
      } finally {
        storage.close()
      }
    }
    if (unmounted) return false
    document.title = "Discarding changes · weft"
    loading.remove()
    main.append(
      messageCard(
        "Your changes could not be discarded yet",
        `Discarding replaces this browser's copy of the document with the server's, and the server's copy could not be loaded (${String((lastError as Error)?.message ?? lastError).replace(/\.$/, "")}). The document opens again once it can be.`,
        [
          h("button", { type: "button", class: "btn btn-primary", onclick: () => location.reload() }, "Try again"),
          h("a", { class: "btn btn-secondary", href: "/", "data-nav": true }, "Go to your documents"),
        ],
        "discard-failed",
      ),
    )
    return false
  }

  function unavailable(client: Client, handle: DocHandle<WeftDoc>) {
    // "No access" reads better than "not found" when that is the reason: wait briefly for the role.
    if (me === null) {
      void Promise.race([meReady, new Promise(r => setTimeout(r, 1500))]).then(() => {
        if (!opened && !unmounted && handle.state === "unavailable") showUnavailable(client, handle)
      })
      return
    }
    showUnavailable(client, handle)
  }

  function showUnavailable(client: Client, handle: DocHandle<WeftDoc>) {
    const connected = client.adapter.info.state === "connected"
    if (me?.role === "none" && me.auth === "jwt") {
      document.title = "No access · weft"
      loading.remove()
      main.querySelector(".message-card")?.remove()
      main.append(
        messageCard(
          "You don't have access to this document",
          `${me.name || me.user ? `Signed in as ${me.name || me.user}. ` : ""}Your access does not include this document. Ask whoever shared it to give you access.`,
          [h("a", { class: "btn btn-primary", href: "/", "data-nav": true }, "Go to your documents")],
          "no-access",
        ),
      )
      return
    }
    document.title = connected ? "Document not found · weft" : "Offline · weft"
    loading.remove()
    main.querySelector(".message-card")?.remove()
    main.append(
      connected
        ? messageCard(
            "Document not found",
            "There is no document with this ID on this server. Check that the link is complete, or ask whoever shared it to send it again.",
            [
              h("a", { class: "btn btn-primary", href: "/", "data-nav": true }, "Go to your documents"),
              h("button", { type: "button", class: "btn btn-secondary", onclick: () => location.reload() }, "Try again"),
            ],
            "not-found",
          )
        : messageCard(
            "Can't reach the server",
            "This document is not stored on this device yet, and the server can't be reached. It will open by itself as soon as the connection is back.",
            [h("a", { class: "btn btn-secondary", href: "/", "data-nav": true }, "Go to your documents")],
            "offline",
          ),
    )
    // It can still arrive: when we reconnect, the Repo asks the server again.
    void handle.whenReady(["ready"]).then(() => {
      if (unmounted) return
      main.querySelector(".message-card")?.remove()
      main.append(loading)
      void open(client, handle)
    })
    if (!connected) {
      const unsub = client.adapter.subscribe(info => {
        if (info.state === "connected" && !opened) {
          // Give the server a moment to answer the renewed request before saying "not found".
          setTimeout(() => {
            if (!opened && !unmounted && handle.state === "unavailable") showUnavailable(client, handle)
          }, 3000)
          unsub()
        }
      })
      cleanups.push(unsub)
    }
  }

  function showError(message: string) {
    loading.remove()
    main.append(
      messageCard("Something went wrong", `The document could not be opened: ${message}`, [
        h("button", { type: "button", class: "btn btn-primary", onclick: () => location.reload() }, "Reload"),
      ]),
    )
  }

  return {
    unmount() {
      unmounted = true
      for (const c of cleanups.reverse()) c()
    },
  }
}

function messageCard(title: string, text: string, actions: Node[], testid = "message"): HTMLElement {
  return h(
    "div",
    { class: "message-card", role: "alert", "data-testid": testid },
    h("h1", {}, title),
    h("p", {}, text),
    h("div", { class: "message-actions" }, ...actions),
  )
}

/** The status pill: connection and whether the server has everything. */
function statusPill() {
  const icon = h("span", { class: "status-icon" })
  const conn = h("span", { class: "status-conn" })
  const sync = h("span", { class: "status-sync" })
  // Shown only when storing in this browser is slow or fails (styles: .status-local).
  const local = h("span", { class: "status-local", "data-testid": "status-local" })
  const retry = h("button", { type: "button", class: "status-retry", hidden: true }, "Retry now")
  const el = h("div", { class: "status", "data-testid": "status", "data-sync": "unsynced", "data-connection": "connecting", "data-local": "saved" }, icon, conn, sync, local, retry)
  let onRetry = () => {}
  retry.addEventListener("click", () => onRetry())
  let lastIcon = ""
  let slowLocal: ReturnType<typeof setTimeout> | undefined
  let lastLocal = "saved"
  return {
    el,
    update(s: Status, retryNow: () => void) {
      onRetry = retryNow
      el.dataset.sync = s.sync
      el.dataset.connection = s.connection
      el.dataset.local = s.local
      el.title = s.detail
      // A write normally takes milliseconds: "Saving on this device…" only when one takes long.
      if (s.local !== lastLocal) {
        lastLocal = s.local
        clearTimeout(slowLocal)
        if (s.local === "saving") slowLocal = setTimeout(() => (local.textContent = s.localText), 600)
        else local.textContent = s.localText
      }
      const showConn = s.connection !== "connected"
      conn.textContent = showConn ? s.connectionText : ""
      conn.hidden = !showConn
      sync.textContent = s.syncText
      retry.hidden = s.connection !== "reconnecting"
      const which = s.connection === "connected" ? (s.sync === "saved" ? "cloudCheck" : "cloud") : "cloudOff"
      if (which !== lastIcon) {
        lastIcon = which
        icon.replaceChildren(svg(icons[which as keyof typeof icons]))
      }
    },
  }
}

async function copyLink(url: string) {
  try {
    await navigator.clipboard.writeText(url)
    toast("Link copied. Anyone with the link can open and edit this document.")
    return
  } catch {
    // not a secure context, or permission denied: fall back to a selected text field
  }
  const input = h("input", { class: "visually-hidden", value: url, readonly: true })
  document.body.append(input)
  input.select()
  const ok = document.execCommand("copy")
  input.remove()
  toast(ok ? "Link copied. Anyone with the link can open and edit this document." : `Copy this link: ${url}`)
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

function nextPaint(): Promise<void> {
  return new Promise(resolve => {
    if (document.hidden) setTimeout(resolve, 0)
    else requestAnimationFrame(() => setTimeout(resolve, 0))
  })
}
