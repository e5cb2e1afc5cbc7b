// Package metrics exports dally's counters in the Prometheus format.
//
// Everything here reads the server's own snapshots (server.Server.Stats and
// ConnsByState) when Prometheus scrapes, so serving pays nothing for it;
// only InstrumentHandler runs per request. Collectors are registered in a
// registry the caller passes in, never the global default one, so two
// servers in one process (or a test) do not collide.
//
// Names follow dally_<subsystem>_<name>_<unit|total>; docs/metrics.md lists
// every metric with its type, labels and meaning.
package metrics

import (
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dallyhttp/dally/server"
)

const namespace = "dally"

// States lists the connection states reported by dally_server_connections,
// in the server's order. A closed connection has left the table, so
// "closed" is not among them.
var States = func() []server.State {
	var out []server.State
	for st := server.State(0); st.String() != "unknown"; st++ {
		if st != server.StateClosed {
			out = append(out, st)
		}
	}
	return out
}()

// serverCollector reads one server's snapshot per scrape. Immutable after
// NewServerCollector.
type serverCollector struct {
	srv *server.Server

	conns, closed                                       *prometheus.Desc
	accepted, requests, limit503, greedy503, pauses     *prometheus.Desc
	badRequests, headerTimeouts, acceptErrors, staged   *prometheus.Desc
	pressure, saturation, saturated, idleTimeout, keepA *prometheus.Desc
	workers, busy, queued                               *prometheus.Desc
	resourcePressure                                    *prometheus.Desc
}

// NewServerCollector returns a collector of s's counters and gauges. name
// goes into the constant label server="name" so several servers (listeners)
// can share a registry; it may be empty, which omits the label.
//
// Connections by state come from s.ConnsByState, counts the server keeps
// at every change of state: a scrape walks no connection table.
func NewServerCollector(name string, s *server.Server) prometheus.Collector {
	var consts prometheus.Labels
	if name != "" {
		consts = prometheus.Labels{"server": name}
	}
	d := func(n, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "server", n), help, labels, consts)
	}
	return &serverCollector{
		srv:    s,
		conns:  d("connections", "Open connections by state.", "state"),
		closed: d("connections_closed_total", "Connections closed, by reason.", "reason"),

		accepted:  d("connections_accepted_total", "Connections accepted."),
		requests:  d("requests_total", "Requests handed to the handler."),
		limit503:  d("limit_503_total", "Connections answered 503 at MaxConns with no idle connection to shed."),
		greedy503: d("greedy_503_total", "Connections and requests refused with 503 as greedy (per-client cap or fair share under saturation)."),
		pauses:    d("greedy_pauses_total", "Times a greedy client's connection was paused (not read for a while)."),

		badRequests:    d("bad_requests_total", "Malformed requests answered with an error status."),
		headerTimeouts: d("header_timeouts_total", "Request heads too slow, answered 408."),
		acceptErrors:   d("accept_errors_total", "Temporary accept failures (EMFILE, ENFILE, ...)."),
		staged:         d("staged_closes_total", "Closes that went through half-close and drain (lingering close)."),

		pressure:         d("pressure_ratio", "Pressure p in [0,1]: the scarcest of connections, workers, memory and CPU."),
		saturation:       d("saturation_ratio", "The part of pressure from handlers, CPU and memory, in [0,1]."),
		saturated:        d("saturated", "1 while responses carry Connection: close because the server is saturated."),
		idleTimeout:      d("idle_timeout_seconds", "The idle timeout in force (falls with pressure)."),
		keepA:            d("keepalive_timeout_seconds", "The timeout= advertised in Keep-Alive response headers."),
		resourcePressure: d("resource_pressure_ratio", "Pressure of each resource in [0,1]; pressure_ratio is the largest. The idle timeout follows all but cpu.", "resource"),

		workers: d("workers", "Handler goroutines alive."),
		busy:    d("workers_busy", "Handler goroutines running a connection."),
		queued:  d("queued_connections", "Connections with work waiting for a handler goroutine."),
	}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.conns, c.closed, c.accepted, c.requests, c.limit503, c.greedy503, c.pauses,
		c.badRequests, c.headerTimeouts, c.acceptErrors, c.staged,
		c.pressure, c.saturation, c.saturated, c.idleTimeout, c.keepA,
		c.workers, c.busy, c.queued, c.resourcePressure,
	} {
		ch <- d
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	byState := c.srv.ConnsByState()
	for _, s := range States {
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(byState[s]), s.String())
	}
	reasons := make([]string, 0, len(st.Closed))
	for r := range st.Closed {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(st.Closed[r]), r)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.accepted, st.Accepted)
	counter(c.requests, st.Requests)
	counter(c.limit503, st.Rejected503)
	counter(c.greedy503, st.Greedy503)
	counter(c.pauses, st.Pauses)
	counter(c.badRequests, st.BadRequests)
	counter(c.headerTimeouts, st.HeaderTimeouts)
	counter(c.acceptErrors, st.AcceptErrors)
	counter(c.staged, st.StagedCloses)
	gauge(c.pressure, st.Pressure)
	gauge(c.saturation, st.Saturation)
	gauge(c.saturated, boolFloat(st.Saturated))
	gauge(c.idleTimeout, st.IdleTimeout.Seconds())
	gauge(c.keepA, float64(st.KeepAlive))
	gauge(c.workers, float64(st.Workers))
	gauge(c.busy, float64(st.BusyWorkers))
	gauge(c.queued, float64(st.Queued))
	r := st.ByResource
	for _, rv := range [...]struct {
		name string
		v    float64
	}{{"conns", r.Conns}, {"fds", r.FDs}, {"memory", r.Mem}, {"workers", r.Workers}, {"run_queue", r.RunQueue}, {"cpu", r.CPU}} {
		ch <- prometheus.MustNewConstMetric(c.resourcePressure, prometheus.GaugeValue, rv.v, rv.name)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewRegistry returns a registry with the Go runtime and process collectors
// (goroutines, GC, memory, descriptors, CPU), which operators expect beside
// dally's own metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format (or OpenMetrics, when the
// scraper asks for it). Errors collecting a metric are served as HTTP 500
// with the error, and counted in promhttp_metric_handler_errors_total.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg,
		ErrorHandling:     promhttp.HTTPErrorOnError,
		EnableOpenMetrics: true,
	})
}
