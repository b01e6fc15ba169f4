/**
 * Exponential backoff with jitter for reconnects.
 *
 * The n-th retry (attempt 0 is the first) waits a random time in
 * [cap·(1−jitter), cap], where cap = min(maxMs, initialMs·factorⁿ). With the defaults that is
 * 0.25–0.5 s, 0.5–1 s, 1–2 s … up to 15–30 s, so a server restart is not met by every client
 * reconnecting in the same instant.
 */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. */
  initialMs: number
  /** Upper bound of any delay, in ms. */
  maxMs: number
  /** Growth per attempt. */
  factor: number
  /** Fraction of the delay that is random, 0 (none) to 1 (full jitter). */
  jitter: number
}

export const defaultBackoff: BackoffOptions = {
  initialMs: 500,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.5,
}

/** The bounds of the delay before retry number `attempt` (0-based). */
export function backoffBounds(attempt: number, opts: BackoffOptions = defaultBackoff): [number, number] {
  const n = Math.max(0, Math.floor(attempt))
  // Avoid Infinity for large n: stop growing once the cap is reached.
  const cap = Math.min(opts.maxMs, opts.initialMs * Math.pow(opts.factor, Math.min(n, 64)))
  const jitter = Math.min(1, Math.max(0, opts.jitter))
  return [cap * (1 - jitter), cap]
}

/** A delay for retry number `attempt`, drawn uniformly from {@link backoffBounds}. */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = defaultBackoff,
  random: () => number = Math.random,
): number {
  const [lo, hi] = backoffBounds(attempt, opts)
  return Math.round(lo + (hi - lo) * random())
}

/** Counts attempts; {@link reset} after a connection succeeded. */
export class Backoff {
  attempt = 0
  constructor(
    private readonly opts: BackoffOptions = defaultBackoff,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; advances the counter. */
  next(): number {
    return backoffDelay(this.attempt++, this.opts, this.random)
  }

  reset(): void {
    this.attempt = 0
  }
}
