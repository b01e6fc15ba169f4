package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weft-dev/weft/storage"
)

// metrics implements session.Metrics with Prometheus collectors on a
// registry of its own (tests start several servers in one process).
type metrics struct {
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
}

func newMetrics(store *storage.Store) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buckets := prometheus.ExponentialBuckets(0.00005, 2, 18) // 50µs … 6.5s
	m := &metrics{
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
	}
	reg.MustRegister(m.msgsIn, m.bytesIn, m.msgsOut, m.bytesOut, m.apply, m.changes, m.persist, m.docLoad, m.openDocs, m.crashes, m.workerRestarts, m.disconnects)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_storage_commits_total", Help: "bbolt transactions committed (each one fsync)."},
		func() float64 { return float64(store.Stats().Commits) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_storage_writes_total", Help: "Writes carried by those transactions (group commit)."},
		func() float64 { return float64(store.Stats().BatchedWrites) }))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) MessageIn(typ string, n int) {
	m.msgsIn.WithLabelValues(typ).Inc()
	m.bytesIn.WithLabelValues(typ).Add(float64(n))
}

func (m *metrics) MessageOut(typ string, n int) {
	m.msgsOut.WithLabelValues(typ).Inc()
	m.bytesOut.WithLabelValues(typ).Add(float64(n))
}

func (m *metrics) Applied(d time.Duration, changes int) {
	m.apply.Observe(d.Seconds())
	m.changes.Add(float64(changes))
}

func (m *metrics) Persisted(d time.Duration) { m.persist.Observe(d.Seconds()) }
func (m *metrics) DocOpened(d time.Duration) {
	m.docLoad.Observe(d.Seconds())
	m.openDocs.Inc()
}
func (m *metrics) DocClosed()          { m.openDocs.Dec() }
func (m *metrics) EngineCrash()        { m.crashes.Inc() }
func (m *metrics) Disconnect(code int) { m.disconnects.WithLabelValues(strconv.Itoa(code)).Inc() }
