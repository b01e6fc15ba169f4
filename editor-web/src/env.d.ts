/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The weft server the dev build syncs with (default: the page's origin). */
  readonly VITE_WEFT_URL?: string
}
