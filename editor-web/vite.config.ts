/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from "vite"
import { precompress } from "./scripts/precompress.mjs"
import { readFileSync, readdirSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"

const outDir = resolve(import.meta.dirname, "dist")

/**
 * After the bundle is written: write .br and .gz next to every compressible file (the Go handler
 * picks one by Accept-Encoding), and put back dist/.gitkeep, which emptyOutDir removed (it keeps
 * `//go:embed all:dist` compiling on a fresh checkout).
 */
function postBuild(): Plugin {
  return {
    name: "weft-post-build",
    apply: "build",
    async closeBundle() {
      writeFileSync(resolve(outDir, ".gitkeep"), "")
      injectPrecacheManifest()
      await precompress(outDir)
    },
  }
}

/** Puts the list of app files into dist/sw.js, for the service worker to cache on install. */
function injectPrecacheManifest() {
  const assets = readdirSync(resolve(outDir, "assets"))
    .filter(f => /\.(js|css|wasm)$/.test(f) && !f.startsWith("embed-example"))
    .map(f => `/assets/${f}`)
  const files = ["/index.html", "/favicon.svg", ...assets.sort()]
  const sw = resolve(outDir, "sw.js")
  const src = readFileSync(sw, "utf8")
  const out = src.replace(/(["'`])__WEFT_PRECACHE_MANIFEST__\1/, JSON.stringify(files))
  if (out === src) throw new Error("sw.js: precache manifest placeholder not found")
  writeFileSync(sw, out)
}

export default defineConfig({
  base: "/",
  plugins: [postBuild()],
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    // The automerge wasm is 3.6 MB raw (about 1 MB brotli); that is expected.
    chunkSizeWarningLimit: 1500,
    assetsInlineLimit: 0,
    rolldownOptions: {
      input: {
        main: resolve(import.meta.dirname, "index.html"),
        "embed-example": resolve(import.meta.dirname, "embed-example.html"),
        embed: resolve(import.meta.dirname, "src/embed.ts"),
        sw: resolve(import.meta.dirname, "src/sw.ts"),
      },
      // embed.js and sw.js keep stable names (other pages and the browser refer to them by name);
      // everything else is content-hashed.
      output: {
        entryFileNames: chunk => (chunk.name === "embed" || chunk.name === "sw" ? `${chunk.name}.js` : "assets/[name]-[hash].js"),
      },
      preserveEntrySignatures: false,
    },
  },
  experimental: {
    // Asset URLs in JavaScript are resolved against the script's own URL, not the page: embed.js
    // runs on other sites' pages and must fetch its wasm and CSS from the weft server.
    renderBuiltUrl(filename, { hostType }) {
      if (hostType === "js") return { runtime: `new URL(${JSON.stringify("/" + filename)}, import.meta.url).href` }
      return undefined
    },
  },
  test: {
    include: ["test/unit/**/*.test.ts"],
    environment: "node",
    setupFiles: ["test/unit/setup.ts"],
  },
})
