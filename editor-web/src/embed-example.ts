// The /embed-example page: loads the real /embed.js (as another site would), shows the snippet,
// and logs the element's events.
import "./styles/editor.css"
import "./styles/app.css"
import "./styles/history.css"
import "./styles/example.css"

const server = location.origin
const params = new URLSearchParams(location.search)
const demo = document.getElementById("demo")!
const log = document.getElementById("log")!
const note = document.getElementById("doc-note")!

demo.setAttribute("server", server)
const id = params.get("document")
if (id) demo.setAttribute("document", id)

const snippet = (doc: string) => `<script type="module" src="${server}/embed.js"></script>

<weft-editor server="${server}" document="${doc}"></weft-editor>

<script>
  const editor = document.querySelector("weft-editor")
  editor.addEventListener("change", e => console.log(e.detail.title, e.detail.text))
  editor.addEventListener("status", e => console.log(e.detail.connection, e.detail.syncText))
</script>`
const snippetEl = document.getElementById("snippet")!
snippetEl.textContent = snippet(id ?? "DOCUMENT_ID")

function entry(type: string, text: string) {
  const li = document.createElement("li")
  const t = document.createElement("span")
  t.className = `event-type event-${type}`
  t.textContent = type
  const d = document.createElement("span")
  d.className = "event-detail"
  d.textContent = text
  const time = document.createElement("time")
  time.textContent = new Date().toLocaleTimeString()
  li.append(t, d, time)
  log.prepend(li)
  while (log.children.length > 30) log.lastElementChild?.remove()
}

demo.addEventListener("ready", e => {
  const { documentId } = (e as CustomEvent).detail
  entry("ready", documentId)
  snippetEl.textContent = snippet(documentId)
  // Keep the document across reloads of this page.
  if (params.get("document") !== documentId) history.replaceState(null, "", `?document=${documentId}`)
  note.replaceChildren("Document ", Object.assign(document.createElement("code"), { textContent: documentId }), ". Open this page in a second window to edit together.")
})
demo.addEventListener("status", e => {
  const s = (e as CustomEvent).detail
  entry("status", `${s.connectionText} · ${s.syncText}`)
})
let last = 0
demo.addEventListener("change", e => {
  const c = (e as CustomEvent).detail
  const now = Date.now()
  if (now - last < 400) return // one line per burst of typing
  last = now
  entry("change", `${c.local ? "local" : "remote"} · “${(c.title || "Untitled").slice(0, 40)}” · ${c.text.length} chars`)
})
demo.addEventListener("error", e => entry("error", (e as unknown as CustomEvent).detail.message))

const script = document.createElement("script")
script.type = "module"
script.src = `${server}/embed.js`
document.head.append(script)
