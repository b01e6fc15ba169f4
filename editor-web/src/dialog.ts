import { h } from "./dom"

/**
 * Shows dialog as a modal, focusing focus, and resolves with result() once it closes (it is then
 * removed from the page).
 */
export function openModal<T>(dialog: HTMLDialogElement, focus: HTMLElement, result: () => T): Promise<T> {
  return new Promise(resolve => {
    dialog.addEventListener("close", () => {
      dialog.remove()
      resolve(result())
    })
    document.body.append(dialog)
    dialog.showModal()
    focus.focus()
  })
}

/** A modal yes/no question in the app's dialog style. */
export function confirmDialog(title: string, text: string, okLabel: string): Promise<boolean> {
  const ok = h("button", { type: "submit", class: "btn btn-primary", "data-testid": "confirm-ok" }, okLabel)
  const cancel = h("button", { type: "button", class: "btn btn-ghost", "data-testid": "confirm-cancel" }, "Cancel")
  const form = h("form", { method: "dialog", class: "dialog-body" }, h("h2", { class: "dialog-title" }, title), h("p", { class: "dialog-text" }, text), h("div", { class: "dialog-actions" }, cancel, ok))
  const dialog = h("dialog", { class: "dialog", "aria-label": title, "data-testid": "confirm" }, form)
  let result = false
  form.addEventListener("submit", () => (result = true))
  cancel.addEventListener("click", () => dialog.close())
  return openModal(dialog, ok, () => result)
}

/** A modal text question; resolves with the trimmed answer, or null. */
export function promptDialog(title: string, text: string, placeholder: string): Promise<string | null> {
  const input = h("input", { class: "input", type: "text", maxlength: 100, placeholder, "aria-label": title, "data-testid": "prompt-input" })
  const cancel = h("button", { type: "button", class: "btn btn-ghost" }, "Cancel")
  const form = h(
    "form",
    { method: "dialog", class: "dialog-body" },
    h("h2", { class: "dialog-title" }, title),
    h("p", { class: "dialog-text" }, text),
    input,
    h("div", { class: "dialog-actions" }, cancel, h("button", { type: "submit", class: "btn btn-primary" }, "Save")),
  )
  const dialog = h("dialog", { class: "dialog", "aria-label": title }, form)
  let result: string | null = null
  form.addEventListener("submit", () => (result = input.value.trim() || null))
  cancel.addEventListener("click", () => dialog.close())
  return openModal(dialog, input, () => result)
}
