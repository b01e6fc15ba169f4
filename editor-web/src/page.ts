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

/**
 * Teardown steps of a page or part, run in reverse order of registration (what was set up last
 * goes first). A step added after teardown runs at once, so late async setup cannot leak.
 */
export class Teardown implements Page {
  #steps: (() => void)[] = []
  #done = false

  /** Whether unmount() has run. */
  get done(): boolean {
    return this.#done
  }

  add(step: () => void): void {
    if (this.#done) step()
    else this.#steps.push(step)
  }

  /** Registers a part's unmount and returns the part. */
  own<T extends Page>(part: T): T {
    this.add(() => part.unmount())
    return part
  }

  unmount(): void {
    if (this.#done) return
    this.#done = true
    for (const step of this.#steps.reverse()) step()
    this.#steps = []
  }
}
