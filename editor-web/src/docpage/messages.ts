import type { Me } from "../api"
import { h } from "../dom"

/** The cards shown in place of the document when it cannot be shown. */
export function messageCard(title: string, text: string, actions: Node[], testid = "message"): HTMLElement {
  return h(
    "div",
    { class: "message-card", role: "alert", "data-testid": testid },
    h("h1", {}, title),
    h("p", {}, text),
    h("div", { class: "message-actions" }, ...actions),
  )
}

const homeLink = (kind = "btn-primary") => h("a", { class: `btn ${kind}`, href: "/", "data-nav": true }, "Go to your documents")
const reloadButton = (label: string, kind = "btn-primary") => h("button", { type: "button", class: `btn ${kind}`, onclick: () => location.reload() }, label)

export function invalidLinkCard(): HTMLElement {
  return messageCard("This link is not valid", "The address does not contain a weft document ID. Check that you copied the whole link.", [homeLink()])
}

export function noAccessCard(me: Me): HTMLElement {
  return messageCard(
    "You don't have access to this document",
    `${me.name || me.user ? `Signed in as ${me.name || me.user}. ` : ""}Your access does not include this document. Ask whoever shared it to give you access.`,
    [homeLink()],
    "no-access",
  )
}

export function notFoundCard(): HTMLElement {
  return messageCard(
    "Document not found",
    "There is no document with this ID on this server. Check that the link is complete, or ask whoever shared it to send it again.",
    [homeLink(), reloadButton("Try again", "btn-secondary")],
    "not-found",
  )
}

export function offlineCard(): HTMLElement {
  return messageCard(
    "Can't reach the server",
    "This document is not stored on this device yet, and the server can't be reached. It will open by itself as soon as the connection is back.",
    [homeLink("btn-secondary")],
    "offline",
  )
}

export function errorCard(message: string): HTMLElement {
  return messageCard("Something went wrong", `The document could not be opened: ${message}`, [reloadButton("Reload")])
}

export function discardFailedCard(error: unknown): HTMLElement {
  return messageCard(
    "Your changes could not be discarded yet",
    `Discarding replaces this browser's copy of the document with the server's, and the server's copy could not be loaded (${String((error as Error)?.message ?? error).replace(/\.$/, "")}). The document opens again once it can be.`,
    [reloadButton("Try again"), homeLink("btn-secondary")],
    "discard-failed",
  )
}
