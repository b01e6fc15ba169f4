// Command weft is a collaborative document server: any automerge-repo
// 2.5.x client can use it as its sync server, and it serves a browser
// editor of its own.
//
//	weft serve [flags]    run a node (the default command)
//	weft token [flags]    mint an HS256 development token
//	weft export [flags]   write documents to a tar archive (--data DIR or --server URL)
//	weft import [flags]   merge an export archive into a node (--data DIR or --server URL)
//	weft backup [flags]   copy the whole data file consistently (--data DIR or --server URL)
//	weft version
//
// This package is the only one that reads flags and the environment, and
// it only wires: it parses them (serve.go, commands.go), builds the parts
// they name and runs them. The work is in internal packages, one job each:
//
//	internal/node         one server: builds storage, the crdt worker pool, the
//	                      cluster link, the session manager, webhooks, the
//	                      transport, the API and the router; Run and Shutdown
//	internal/api          the HTTP API under /api/ and openapi.json
//	internal/wstransport  melody WebSockets adapted to session.Conn
//	internal/auth         JWT verification, roles from claims, token minting
//	internal/backup       export, import and backup: commands and GET /api/backup
//	internal/cluster      NATS connection, relay and node id (--nats)
//	internal/limits       admission, per-connection rates, API rate per address
//	internal/clientip     the client's address and scheme behind trusted proxies
//	internal/metrics      Prometheus metrics
//	internal/recovery     HTTP panic recovery (500 with the JSON error body)
//	internal/tlsreload    --tls-cert, reloaded on SIGHUP
//	internal/profiler     --pprof on a loopback listener
//	internal/membudget    --memory-budget and the memory available
//	internal/httpjson     JSON answers and the API's error body
//
// Shutdown order (node.Node.Shutdown, on the first SIGINT or SIGTERM,
// within --shutdown-grace): stop HTTP, close peers with "reconnect" and
// flush every document, close the WebSockets, close the relay and drain
// NATS, deliver the last webhooks, stop the workers, close bbolt last. A
// second signal exits at once.
//
// Security (README "Security"): --auth jwt verifies tokens on the upgrade
// and on /api/ and turns their claims into a session.Auth (a role per
// document); the limits admit connections (admission bucket, per-IP and
// total caps) and throttle each connection's messages and bytes; --tls-cert
// serves https and wss. A refused upgrade is accepted and closed with a
// close code (4005, 4505), never an HTTP error, and leaves an audit log
// line (attribute "audit"). Every HTTP handler runs behind panic recovery;
// recovered panics are counted in weft_panics_recovered_total{where}.
//
// main calls crdt.MaybeRunWorker first: the engine's worker processes are
// this same binary.
package main
