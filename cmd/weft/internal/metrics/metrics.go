package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
)

// Metrics implements session.Metrics with Prometheus collectors on a
// registry of its own (tests start several servers in one process).
type Metrics struct {
	reg            *prometheus.Registry
	msgsIn         *prometheus.CounterVec
	bytesIn        *prometheus.CounterVec
	msgsOut        *prometheus.CounterVec
	bytesOut       *prometheus.CounterVec
	apply          prometheus.Histogram
	changes        prometheus.Counter
	persist        prometheus.Histogram
	docLoad        prometheus.Histogram
	openDocs       prometheus.Gauge
	crashes        prometheus.Counter
	workerRestarts prometheus.Counter
	disconnects    *prometheus.CounterVec
	refused        *prometheus.CounterVec
	fanout         prometheus.Histogram
	commit         prometheus.Histogram
	batch          prometheus.Histogram
	evictions      *prometheus.CounterVec
	panics         *prometheus.CounterVec
	damaged        *prometheus.CounterVec
}

// New returns the collectors; storage (its commit hook is OnCommit) and
// the session manager are attached with Watch once they exist.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buckets := prometheus.ExponentialBuckets(0.00005, 2, 18) // 50µs … 6.5s
	m := &Metrics{
		reg:            reg,
		msgsIn:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_messages_in_total", Help: "Protocol messages received, by type."}, []string{"type"}),
		bytesIn:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_bytes_in_total", Help: "Protocol bytes received, by type."}, []string{"type"}),
		msgsOut:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_messages_out_total", Help: "Protocol messages sent, by type."}, []string{"type"}),
		bytesOut:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_bytes_out_total", Help: "Protocol bytes sent, by type."}, []string{"type"}),
		apply:          prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weft_apply_seconds", Help: "Time to apply one sync message in the engine.", Buckets: buckets}),
		changes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_changes_applied_total", Help: "Automerge changes accepted."}),
		persist:        prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weft_persist_seconds", Help: "Time from handing changes to storage to their fsync.", Buckets: buckets}),
		docLoad:        prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weft_document_load_seconds", Help: "Time to load a document into the engine.", Buckets: buckets}),
		openDocs:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "weft_open_documents", Help: "Documents loaded in the engine."}),
		crashes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_engine_crashes_total", Help: "Engine requests lost to a worker crash."}),
		workerRestarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_worker_restarts_total", Help: "Automerge worker processes restarted after dying."}),
		disconnects:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_disconnects_total", Help: "Connections closed by the server, by close code."}, []string{"code"}),
		refused:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_refused_total", Help: "Requests, connections and messages refused by authentication or a limit, by reason."}, []string{"reason"}),
		fanout:         prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weft_fanout_seconds", Help: "From a message's arrival to the frames it caused being queued for every peer (fsync included).", Buckets: buckets}),
		commit:         prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weft_storage_commit_seconds", Help: "One bbolt transaction, fsync included.", Buckets: buckets}),
		batch:          prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weft_storage_batch_writes", Help: "Writes carried by one bbolt transaction (group commit).", Buckets: prometheus.ExponentialBuckets(1, 2, 13)}),
		evictions:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_document_evictions_total", Help: "Documents unloaded while serving, by reason (idle: no peer for --idle-unload; budget: over --memory-budget)."}, []string{"reason"}),
		panics:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_panics_recovered_total", Help: "Panics recovered on goroutines that handle client input, by where (document, client, relay, http, websocket)."}, []string{"where"}),
		damaged:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weft_documents_damaged_total", Help: "Documents found damaged, by what (load: a stored chunk does not load and was set aside; snapshot: its changes cannot be compacted)."}, []string{"what"}),
	}
	reg.MustRegister(m.msgsIn, m.bytesIn, m.msgsOut, m.bytesOut, m.apply, m.changes, m.persist, m.docLoad, m.openDocs, m.crashes, m.workerRestarts, m.disconnects, m.refused, m.fanout, m.commit, m.batch, m.evictions, m.panics, m.damaged)
	for _, r := range []string{"idle", "budget"} {
		m.evictions.WithLabelValues(r) // exported at zero from the start
	}
	for _, w := range []string{"http", "websocket", "document", "client", "relay"} {
		m.panics.WithLabelValues(w)
	}
	for _, w := range []string{"load", "snapshot"} {
		m.damaged.WithLabelValues(w)
	}
	return m
}

// OnCommit observes one storage transaction (storage.Options.OnCommit).
func (m *Metrics) OnCommit(batch int, d time.Duration) {
	m.commit.Observe(d.Seconds())
	m.batch.Observe(float64(batch))
}

// Watch exports the store's and the session manager's live counts.
func (m *Metrics) Watch(store *storage.Store, mgr *session.Manager) {
	reg := m.reg
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_storage_commits_total", Help: "bbolt transactions committed (each one fsync)."},
		func() float64 { return float64(store.Stats().Commits) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_storage_writes_total", Help: "Writes carried by those transactions (group commit)."},
		func() float64 { return float64(store.Stats().BatchedWrites) }))

	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_connections", Help: "Open WebSocket connections."},
		func() float64 { return float64(mgr.Stats().Clients) }))
	m.reg.MustRegister(docMemoryCollector{mgr})
}

// docMemoryCollector exports the open documents' engine memory at scrape
// time: the total, the budget, and their distribution as a histogram (no
// label per document: the number of documents is unbounded).
type docMemoryCollector struct{ mgr *session.Manager }

var (
	docMemTotalDesc  = prometheus.NewDesc("weft_document_memory_bytes", "Engine memory of the open documents (engine figures, or estimates from stored bytes).", nil, nil)
	docMemBudgetDesc = prometheus.NewDesc("weft_document_memory_budget_bytes", "The --memory-budget for open documents; 0: none.", nil, nil)
	docMemDesc       = prometheus.NewDesc("weft_document_memory_per_document_bytes", "Engine memory per open document, over the documents open now.", nil, nil)
	docMemBuckets    = prometheus.ExponentialBuckets(16<<10, 4, 10) // 16 KiB … 4 GiB
)

func (docMemoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- docMemTotalDesc
	ch <- docMemBudgetDesc
	ch <- docMemDesc
}

func (c docMemoryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.mgr.Memory()
	ch <- prometheus.MustNewConstMetric(docMemTotalDesc, prometheus.GaugeValue, float64(st.Total))
	ch <- prometheus.MustNewConstMetric(docMemBudgetDesc, prometheus.GaugeValue, float64(st.Budget))
	counts := make(map[float64]uint64, len(docMemBuckets))
	for _, b := range docMemBuckets {
		counts[b] = 0 // every bucket on every scrape, empty ones too
	}
	var sum float64
	for _, v := range st.PerDoc {
		sum += float64(v)
		for _, b := range docMemBuckets {
			if float64(v) <= b {
				counts[b]++ // cumulative, as Prometheus wants
			}
		}
	}
	ch <- prometheus.MustNewConstHistogram(docMemDesc, uint64(len(st.PerDoc)), sum, counts)
}

func (m *Metrics) Fanout(d time.Duration) { m.fanout.Observe(d.Seconds()) }

// Handler serves the registry (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) MessageIn(typ string, n int) {
	m.msgsIn.WithLabelValues(typ).Inc()
	m.bytesIn.WithLabelValues(typ).Add(float64(n))
}

func (m *Metrics) MessageOut(typ string, n int) {
	m.msgsOut.WithLabelValues(typ).Inc()
	m.bytesOut.WithLabelValues(typ).Add(float64(n))
}

func (m *Metrics) Applied(d time.Duration, changes int) {
	m.apply.Observe(d.Seconds())
	m.changes.Add(float64(changes))
}

func (m *Metrics) Persisted(d time.Duration) { m.persist.Observe(d.Seconds()) }
func (m *Metrics) DocOpened(d time.Duration) {
	m.docLoad.Observe(d.Seconds())
	m.openDocs.Inc()
}
func (m *Metrics) DocClosed()            { m.openDocs.Dec() }
func (m *Metrics) EngineCrash()          { m.crashes.Inc() }
func (m *Metrics) Limited(reason string) { m.refused.WithLabelValues(reason).Inc() }

func (m *Metrics) Evicted(reason string) { m.evictions.WithLabelValues(reason).Inc() }
func (m *Metrics) Panicked(where string) { m.panics.WithLabelValues(where).Inc() }
func (m *Metrics) Damaged(what string)   { m.damaged.WithLabelValues(what).Inc() }

func (m *Metrics) Disconnect(code int) { m.disconnects.WithLabelValues(strconv.Itoa(code)).Inc() }

// Refused counts a request, connection or message refused by
// authentication or a limit.
func (m *Metrics) Refused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// WorkerRestarted counts an engine worker process restarted after dying.
func (m *Metrics) WorkerRestarted() { m.workerRestarts.Inc() }
