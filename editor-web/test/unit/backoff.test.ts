import { describe, expect, it } from "vitest"
import { Backoff, backoffBounds, backoffDelay, defaultBackoff } from "../../src/net/backoff"

describe("backoff", () => {
  it("grows exponentially from initialMs and stops at maxMs", () => {
    const opts = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 }
    expect(backoffBounds(0, opts)).toEqual([250, 500])
    expect(backoffBounds(1, opts)).toEqual([500, 1000])
    expect(backoffBounds(4, opts)).toEqual([4000, 8000])
    expect(backoffBounds(6, opts)).toEqual([15_000, 30_000])
    expect(backoffBounds(50, opts)).toEqual([15_000, 30_000])
    expect(backoffBounds(10_000, opts)).toEqual([15_000, 30_000]) // no Infinity/NaN
  })

  it("draws every delay inside its bounds, reaching both ends", () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const [lo, hi] = backoffBounds(attempt)
      expect(backoffDelay(attempt, defaultBackoff, () => 0)).toBe(Math.round(lo))
      expect(backoffDelay(attempt, defaultBackoff, () => 0.999999)).toBe(Math.round(hi))
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt)
        expect(d).toBeGreaterThanOrEqual(Math.floor(lo))
        expect(d).toBeLessThanOrEqual(Math.ceil(hi))
      }
    }
  })

  it("actually jitters: clients retrying together spread out", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5)))
    expect(delays.size).toBeGreaterThan(30)
  })

  it("clamps jitter to [0, 1]", () => {
    expect(backoffBounds(0, { ...defaultBackoff, jitter: 0 })).toEqual([500, 500])
    expect(backoffBounds(0, { ...defaultBackoff, jitter: 3 })).toEqual([0, 500])
    expect(backoffBounds(0, { ...defaultBackoff, jitter: -1 })).toEqual([500, 500])
  })

  it("counts attempts and resets after a success", () => {
    const b = new Backoff(defaultBackoff, () => 1)
    expect([b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000])
    b.reset()
    expect(b.next()).toBe(500)
  })
})
