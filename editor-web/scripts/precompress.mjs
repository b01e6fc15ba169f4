// Writes <file>.br and <file>.gz next to every compressible file in a directory tree, for the Go
// handler to serve by Accept-Encoding. A variant is kept only when it is smaller than the original.
// Usage: node scripts/precompress.mjs [dir]   (also called by the Vite build)
import { readdir, readFile, writeFile, stat } from "node:fs/promises"
import { join, extname } from "node:path"
import { brotliCompress, gzip, constants } from "node:zlib"
import { promisify } from "node:util"
import { fileURLToPath } from "node:url"

const br = promisify(brotliCompress)
const gz = promisify(gzip)
const compressible = new Set([".html", ".js", ".mjs", ".css", ".wasm", ".svg", ".json", ".txt", ".map", ".xml", ".ico"])

async function* files(dir) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* files(p)
    else yield p
  }
}

export async function precompress(dir) {
  const jobs = []
  for await (const f of files(dir)) {
    if (!compressible.has(extname(f))) continue
    jobs.push(
      (async () => {
        const raw = await readFile(f)
        if (raw.length < 256) return
        const [b, g] = await Promise.all([
          br(raw, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: 11,
              [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
              [constants.BROTLI_PARAM_MODE]: extname(f) === ".wasm" ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
            },
          }),
          gz(raw, { level: 9 }),
        ])
        if (b.length < raw.length) await writeFile(f + ".br", b)
        if (g.length < raw.length) await writeFile(f + ".gz", g)
      })(),
    )
  }
  await Promise.all(jobs)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? "dist"
  await stat(dir)
  await precompress(dir)
}
