import { describe, expect, it } from "vitest"
import { Teardown } from "../../src/page"

describe("Teardown", () => {
  it("runs steps in reverse order, once", () => {
    const t = new Teardown()
    const ran: string[] = []
    t.add(() => ran.push("first"))
    t.own({ unmount: () => ran.push("part") })
    t.add(() => ran.push("last"))
    expect(t.done).toBe(false)
    t.unmount()
    t.unmount()
    expect(ran).toEqual(["last", "part", "first"])
    expect(t.done).toBe(true)
  })

  it("runs a step added after teardown at once", () => {
    const t = new Teardown()
    t.unmount()
    let ran = false
    t.add(() => (ran = true))
    expect(ran).toBe(true)
  })
})
