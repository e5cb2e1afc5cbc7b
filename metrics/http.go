package metrics

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are the bounds of dally_http_request_duration_seconds:
// from 100 µs (a cached static file on loopback) to 10 s.
var DurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Status slots: 100..599 are codes; two low slots name what is not a code.
const (
	slotHijacked = 0 // the handler took the connection: no status we can see
	slotOther    = 1 // a code outside 100..599
	numSlots     = 600
)

// httpMetrics is one registry's set of request metrics. The vectors are
// immutable after newHTTPMetrics; children are made on first use and kept.
type httpMetrics struct {
	requests *prometheus.CounterVec   // code
	duration *prometheus.HistogramVec // class
	inflight prometheus.Gauge

	byCode  [numSlots]atomic.Pointer[counterChild] // set once per code
	byClass [7]prometheus.Observer                 // hijacked, other, 1xx..5xx; immutable
}

type counterChild struct{ prometheus.Counter }

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "Requests answered by the handler, by final status code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from the handler's start to its return, by status class.",
			Buckets: DurationBuckets,
		}, []string{"class"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "Requests in the handler now.",
		}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.inflight = register(reg, m.inflight)
	for i, class := range []string{"hijacked", "other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		m.byClass[i] = m.duration.WithLabelValues(class)
	}
	return m
}

// register adds c to reg, or returns the collector already there under the
// same descriptors, so instrumenting two handlers with one registry shares
// the series instead of failing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic("metrics: " + err.Error())
	}
	return c
}

func (m *httpMetrics) observe(slot int, d time.Duration) {
	c := m.byCode[slot].Load()
	if c == nil {
		label := "hijacked"
		switch {
		case slot == slotOther:
			label = "other"
		case slot >= 100:
			label = strconv.Itoa(slot)
		}
		c = &counterChild{m.requests.WithLabelValues(label)}
		// Two racing first requests get the same child from the vector.
		m.byCode[slot].Store(c)
	}
	c.Inc()
	class := slot // hijacked, other
	if slot >= 100 {
		class = slot/100 + 1
	}
	m.byClass[class].Observe(d.Seconds())
}

// InstrumentHandler counts next's requests by status code, times them into
// dally_http_request_duration_seconds by status class, and tracks those in
// flight, in reg. To tell several servers apart, pass
// prometheus.WrapRegistererWith(prometheus.Labels{"server": name}, reg).
//
// Per request it costs two clock reads, a few atomic adds and a pooled
// ResponseWriter wrapper (BenchmarkInstrumentHandler: no allocation). The
// wrapper keeps Flush and Hijack, and Unwrap for http.ResponseController.
// A handler that panics before sending a status is counted as 500.
func InstrumentHandler(reg prometheus.Registerer, next http.Handler) http.Handler {
	return &instrumented{next: next, m: newHTTPMetrics(reg)}
}

type instrumented struct {
	next http.Handler
	m    *httpMetrics
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (h *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := recorders.Get().(*recorder)
	rec.ResponseWriter, rec.code, rec.wrote, rec.hijacked = w, 0, false, false
	h.m.inflight.Inc()
	start := time.Now()
	done := false
	defer func() {
		if !done { // the handler panicked: the server answers 500 if it can
			h.finish(rec, start, http.StatusInternalServerError)
		}
	}()
	h.next.ServeHTTP(rec, r)
	done = true
	h.finish(rec, start, http.StatusOK)
}

// finish records one request; code is the status assumed when none was
// written (200 when the handler returned, as net/http sends).
func (h *instrumented) finish(rec *recorder, start time.Time, code int) {
	d := time.Since(start)
	if rec.wrote {
		code = rec.code
	}
	slot := code
	switch {
	case rec.hijacked:
		slot = slotHijacked
	case code < 100 || code >= numSlots:
		slot = slotOther
	}
	h.m.observe(slot, d)
	h.m.inflight.Dec()
	rec.ResponseWriter = nil
	recorders.Put(rec)
}

// recorder notes the final status a handler sends. Used by one request's
// goroutine only; back in the pool when the handler returns.
type recorder struct {
	http.ResponseWriter
	code     int
	wrote    bool // a final status went out (explicitly or by a Write)
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	// 1xx other than 101 are interim (RFC 9110 §15.2): the final status follows.
	if !r.wrote && (code >= 200 || code == http.StatusSwitchingProtocols || code < 100) {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.code, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if !r.wrote {
			r.code, r.wrote = http.StatusOK, true
		}
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		r.hijacked = true
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
