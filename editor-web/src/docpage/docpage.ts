/**
 * The document page, /d/<id>. It is put together from parts, each owning one concern and
 * torn down with the page:
 *   frame.ts      top bar, toolbar row and main column (title crumb, people, share button)
 *   access.ts     the role on this document (GET /api/me), remembered for offline reloads
 *   loading.ts    the loading screen
 *   loader.ts     finding the document, and the cards when it cannot be had
 *   view.ts       the open document: editor, sync status, history, read-only mode
 *   saveguard.ts  storing each change here at once, and warning before leaving unsaved changes
 *   readonly.ts   read-only mode (role, or changes refused by the server)
 *   discarding.ts "Discard my changes"
 */
import { isValidDocumentId } from "@automerge/automerge-repo/slim"
import { Api } from "../api"
import { Teardown, type AppContext, type Page } from "../page"
import { Access } from "./access"
import { DocFrame } from "./frame"
import { DocLoader } from "./loader"
import { LoadingScreen } from "./loading"
import { invalidLinkCard } from "./messages"
import { DocumentView } from "./view"

export function mountDocument(ctx: AppContext, id: string): Page {
  document.title = "Opening… · weft"
  const frame = new DocFrame(ctx.root, `${location.origin}/d/${id}`)
  const api = new Api({ base: import.meta.env.VITE_WEFT_URL || location.origin })
  const access = new Access(api, id)
  if (!isValidDocumentId(id)) {
    document.title = "Invalid link · weft"
    frame.main.append(invalidLinkCard())
    return { unmount() {} }
  }

  const t = new Teardown()
  const loading = t.own(new LoadingScreen())
  frame.main.append(loading.el)
  loading.setStage("Loading the editor…", 10)
  t.own(
    new DocLoader({
      id,
      api,
      access,
      client: ctx.client,
      main: frame.main,
      loading,
      onReady: (client, handle) => void t.own(new DocumentView({ id, api, access, client, handle, frame, loading })),
    }),
  )
  return t
}
