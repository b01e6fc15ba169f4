// Package webhook delivers document events to HTTP receivers configured on
// the server: signed, debounced per document, retried with backoff, and
// recorded in an in-memory delivery log.
//
// # Wiring
//
//	cfg, err := webhook.Load(path)          // weft serve --webhooks FILE
//	d := webhook.New(cfg, log)              // options: WithMetrics, WithHTTPClient
//	cancel := mgr.Subscribe("", d.Handle)   // every document
//	...
//	mgr.Shutdown(ctx); cancel(); d.Close(ctx) // flush the last changes, then stop
//
// [Dispatcher.Handle] runs on document goroutines: it filters, copies the
// event into the payload's form and queues it for the dispatcher's own
// goroutine without ever blocking (a full queue drops the event and counts
// it, see [Dispatcher.Dropped]).
//
// In a cluster (weft serve --nats), change deliveries come instead from a
// durable JetStream feed per hook (storage/jsstore Store.Feed: a pull
// consumer of the documents' log in a pinned priority group, so one node at
// a time consumes it and another takes over when it stops or dies), handed
// over with [Dispatcher.HandleFeed]. A feed entry is acknowledged once the
// delivery carrying it was delivered or given up, never when Close aborts
// it: each change is delivered once per hook across the cluster, and an
// entry a stopped or dead node held is delivered by another (at once after
// a stop, within the feed's ack wait after a death). A feed delivery's id
// comes from the hook, the document and its first and last log sequence, so
// a redelivery of the same changes has the same X-Weft-Delivery. Join and
// leave events stay per node (session events of that node's peers). Order
// holds per document while one node consumes. After a takeover it usually
// holds after a stop (the stopping node gives its pending entries back at
// once, in order) but is not guaranteed; after a node's death, its
// redeliveries come within the ack wait, after changes appended meanwhile
// (their deps say where they belong).
//
// # Debouncing and ordering
//
// Change events of one document are collected for [Config.Debounce]
// (500ms) from the first one, then delivered as one payload listing every
// change in order, with the heads after the last. The window is not
// extended by later events, so a document edited without pause still
// produces a delivery every window. Join and leave events are not merged:
// each is its own delivery, and a change batch pending for the document
// is flushed before it, so a receiver sees a document's events in the
// order they happened.
//
// Each hook has its own queue per document, sent one delivery at a time:
// a later delivery for a hook and document never goes out before the
// earlier one succeeded or was given up. Change batches still waiting in
// that queue (not yet attempted) merge, so a receiver that was down gets
// one catch-up delivery rather than hundreds. Different documents and
// hooks are delivered concurrently ([Config.Concurrency] requests at once).
//
// # Requests
//
// A delivery is an HTTP POST of a JSON [Payload] with the headers
//
//	Content-Type: application/json
//	X-Weft-Delivery: <delivery id, the same on every retry: deduplicate on it>
//	X-Weft-Event: change | join | leave
//	X-Weft-Timestamp: <Unix seconds of this attempt>
//	X-Weft-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The timestamp is inside the MAC, so a captured request cannot be
// replayed later with a fresh timestamp; receivers reject old timestamps
// ([VerifyRequest] does both checks; [Verify] only the MAC). A change
// payload:
//
//	{
//	  "id": "wd_6f1c…", "type": "change", "documentId": "4NMNnkMhL8jXrdJ9jamS58PAVdXu",
//	  "time": "2025-01-02T15:04:05.123Z",
//	  "heads": "9a3e…,c0d2…",
//	  "changes": [
//	    {"hash": "5b2f…", "actor": "b1c4…", "seq": 12, "time": "2025-01-02T15:04:04Z",
//	     "message": "", "deps": "71d0…", "size": 187}
//	  ]
//	}
//
// Heads and deps are comma-separated hex hashes, the form the HTTP API
// uses everywhere (?at=, ETag, X-Weft-Heads), and changes have the shape
// of the history endpoint's and the SSE feed's.
//
// changes lists every change that became durable on this node in the
// window, in the order applied, whether it came from a peer on this node,
// the HTTP API or another node of a cluster; time is omitted when the
// change carries none. A join or leave payload has "peerId" and "user"
// (the authenticated user, if any) instead of heads and changes.
//
// A 2xx answer is success. Anything else, a network error or a timeout
// ([Config.Timeout], 10s) is retried after RetryBase·2ⁿ (1s, 2s, 4s …,
// at most RetryMax, 5m), each delay jittered down by up to half, and at
// least a 429 or 503's Retry-After; after [Config.MaxAttempts] (8) or
// [Config.MaxAge] (1h) the delivery is given up. Redirects are not
// followed (a 3xx is a failure: configure the final URL).
//
// # Delivery log
//
// [Dispatcher.Deliveries] returns the last [Config.LogSize] (1000)
// deliveries, newest first, with their attempts, last status and error.
// Hook URLs there and in logs lose their query and user info, which may
// hold credentials.
package webhook
