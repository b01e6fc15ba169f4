import "./styles/editor.css"
import "./styles/app.css"
import "./styles/history.css"
import { docIdFromPath } from "./docid"
import { mountDocument } from "./docpage/docpage"
import { mountHome } from "./home"
import { h } from "./dom"
import type { AppContext, Page } from "./page"
import { createClient, loadAutomerge, type Client } from "./repo"

const root = document.getElementById("app")!
let current: Page | null = null
let client: Promise<Client> | null = null

const ctx: AppContext = {
  root,
  // One Repo for the life of the tab, made on first use (the home page alone does not need it).
  // The server is this page's origin; `VITE_WEFT_URL=http://localhost:8080 npm run dev` points the
  // Vite dev server's page at a separate weft.
  client: () => (client ??= createClient(import.meta.env.VITE_WEFT_URL || location.origin)),
  navigate(path: string) {
    if (path === location.pathname) return
    history.pushState(null, "", path)
    route()
  },
}

function route() {
  current?.unmount()
  current = null
  root.replaceChildren()
  window.scrollTo(0, 0)
  const path = location.pathname
  const docId = docIdFromPath(path)
  if (docId !== null) {
    current = mountDocument(ctx, docId)
  } else if (path === "/" || path === "/index.html") {
    current = mountHome(ctx)
  } else {
    document.title = "Page not found · weft"
    root.append(
      h(
        "main",
        { class: "message-page" },
        h("div", { class: "message-card" }, h("h1", {}, "Page not found"), h("p", {}, "There is nothing at this address."), h("a", { class: "btn btn-primary", href: "/" }, "Go to your documents")),
      ),
    )
  }
}

// Same-origin links navigate without a reload (the wasm stays loaded).
document.addEventListener("click", e => {
  const a = (e.target as HTMLElement).closest?.("a[data-nav]") as HTMLAnchorElement | null
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  const url = new URL(a.href)
  if (url.origin !== location.origin) return
  e.preventDefault()
  ctx.navigate(url.pathname)
})
window.addEventListener("popstate", () => route())

// Keep the app on this device so stored documents open without the server (see src/sw.ts).
if (import.meta.env.PROD && "serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(err => console.warn("weft: offline support unavailable:", err))
  })
}

// Start fetching and compiling the wasm right away, in parallel with the first render.
void loadAutomerge()
route()
