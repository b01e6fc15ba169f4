// `npm run lint:cycles` (part of `make lint`) must fail on an import cycle, type-only ones included:
// the same command runs here on small projects with and without one.
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join, resolve } from "node:path"
import { afterEach, describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "../..")
const command: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts["lint:cycles"]
const dirs: string[] = []

function check(files: Record<string, string>): number | null {
  const dir = mkdtempSync(join(tmpdir(), "weft-cycles-"))
  dirs.push(dir)
  mkdirSync(join(dir, "src"))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, "src", name), text)
  const PATH = `${join(root, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}`
  return spawnSync("sh", ["-c", command], { cwd: dir, env: { ...process.env, PATH }, stdio: "ignore" }).status
}

describe("lint:cycles", () => {
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it("passes without a cycle", () => {
    expect(check({ "a.ts": 'import { b } from "./b"\nexport const a = b\n', "b.ts": "export const b = 1\n" })).toBe(0)
  })

  it("fails on a cycle", () => {
    expect(check({ "a.ts": 'import { b } from "./b"\nexport const a = b\n', "b.ts": 'import { a } from "./a"\nexport const b = () => a\n' })).toBe(1)
  })

  it("fails on a cycle of type-only imports through a third module", () => {
    const files = {
      "a.ts": 'import type { B } from "./b"\nexport type A = B\n',
      "b.ts": 'import type { C } from "./c"\nexport type B = C\n',
      "c.ts": 'import type { A } from "./a"\nexport type C = A | 1\n',
    }
    expect(check(files)).toBe(1)
  })
})
