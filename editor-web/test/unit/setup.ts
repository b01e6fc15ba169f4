// The app loads Automerge's wasm itself (src/repo.ts); in Node the full entry point initialises it.
import "@automerge/automerge"
