import { openModal } from "./dialog"
import { h, svg } from "./dom"
import { icons } from "./icons"
import { identity, initials, saveName, savedName, suggestedName } from "./identity"

/** The top bar: logo (home link) on the left, `right` on the right. */
export function header(left: Node[], right: Node[]): HTMLElement {
  return h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "topbar-left" },
      h("a", { class: "logo", href: "/", "data-nav": true, "aria-label": "weft home", title: "All documents" }, svg(icons.logo), h("span", { class: "logo-word" }, "weft")),
      ...left,
    ),
    h("div", { class: "topbar-right" }, ...right),
  )
}

/** A round avatar with initials in the person's colour. */
export function avatar(name: string, color: string, extra = ""): HTMLElement {
  const el = h("span", { class: `avatar ${extra}`.trim(), title: name, "aria-hidden": "true" }, initials(name))
  el.style.setProperty("--peer-color", color)
  return el
}

/** The "you" chip in the top bar; clicking it renames. */
export function nameChip(onRename: (name: string) => void): HTMLElement {
  const me = identity()
  const label = h("span", { class: "me-name" }, me.name)
  const av = avatar(me.name, me.color, "avatar-sm")
  const btn = h("button", { type: "button", class: "me-chip", title: "Change your display name", "data-testid": "me" }, av, label)
  btn.addEventListener("click", async () => {
    const name = await askName(true)
    if (!name) return
    onRename(name)
  })
  return btn
}

/** Shows the current name in every "you" chip (after the name was asked or changed). */
export function refreshNameChips(): void {
  const me = identity()
  for (const chip of document.querySelectorAll<HTMLElement>(".me-chip")) {
    chip.querySelector(".me-name")!.textContent = me.name
    const av = chip.querySelector<HTMLElement>(".avatar")!
    av.textContent = initials(me.name)
    av.title = me.name
  }
}

/**
 * Asks for a display name (once: it is remembered). Resolves with the name, or null if the
 * dialog was dismissed while renaming.
 */
export function askName(renaming = false): Promise<string | null> {
  return new Promise(resolve => {
    const current = savedName()
    const input = h("input", {
      class: "input",
      type: "text",
      name: "name",
      maxlength: 40,
      autocomplete: "name",
      placeholder: suggestedName(),
      "aria-label": "Your name",
    })
    input.value = current ?? ""
    const form = h(
      "form",
      { method: "dialog", class: "dialog-body" },
      h("h2", { class: "dialog-title" }, renaming ? "Change your name" : "What should others call you?"),
      h("p", { class: "dialog-text" }, "Your name is shown next to your cursor to people editing with you. It is remembered on this device."),
      input,
      h(
        "div",
        { class: "dialog-actions" },
        renaming ? h("button", { type: "button", class: "btn btn-ghost", value: "cancel", "data-close": true }, "Cancel") : null,
        h("button", { type: "submit", class: "btn btn-primary", "data-testid": "name-save" }, renaming ? "Save" : "Continue"),
      ),
    )
    const dialog = h("dialog", { class: "dialog", "aria-label": "Your name" }, form)
    let result: string | null = null
    form.addEventListener("submit", () => {
      const name = (input.value.trim() || input.placeholder).slice(0, 40)
      saveName(name)
      result = name
      refreshNameChips()
    })
    form.querySelector("[data-close]")?.addEventListener("click", () => dialog.close())
    dialog.addEventListener("cancel", e => {
      // Escape on the first ask keeps the suggested name rather than leaving none.
      if (!renaming) {
        e.preventDefault()
        form.requestSubmit()
      }
    })
    const answer = openModal(dialog, input, () => result)
    input.select()
    resolve(answer)
  })
}
