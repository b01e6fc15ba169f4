/** A small element builder: h("button", { class: "x", onclick }, "Label"). */
type Child = Node | string | null | undefined | false
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener)
    else if (v === true) el.setAttribute(k, "")
    else el.setAttribute(k, String(v))
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c)
  return el
}

/** Parses a trusted SVG string (our own icons) into an element. */
export function svg(markup: string): SVGElement {
  const t = document.createElement("template")
  t.innerHTML = markup.trim()
  return t.content.firstElementChild as SVGElement
}

/** Shows a short message at the bottom of the screen. */
export function toast(message: string, root: HTMLElement = document.body): void {
  let host = root.querySelector<HTMLElement>(":scope > .toast-host")
  if (!host) {
    host = h("div", { class: "toast-host", role: "status", "aria-live": "polite" })
    root.append(host)
  }
  const t = h("div", { class: "toast" }, message)
  host.append(t)
  setTimeout(() => t.classList.add("leaving"), 2200)
  setTimeout(() => t.remove(), 2600)
}
