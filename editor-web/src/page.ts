import type { Client } from "./repo"

/** A mounted page, or a part of one; unmount() tears it down (listeners, timers, DOM it added). */
export interface Page {
  unmount(): void
}

/** What the router gives each page. Its own module so pages need not import the entry module. */
export interface AppContext {
  root: HTMLElement
  client: () => Promise<Client>
  navigate: (path: string) => void
}
