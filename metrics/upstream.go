package metrics

import "github.com/prometheus/client_golang/prometheus"

// UpstreamStats is what a client or proxy connection pool reports about one
// upstream (origin or next hop) at scrape time. Counters are cumulative
// since the pool started.
type UpstreamStats struct {
	Upstream string // host:port, or the route's name; the "upstream" label
	Idle     int    // pooled connections waiting for a request
	Active   int    // connections carrying a request now
	Dials    int64  // connections opened
	Retries  int64  // requests sent again on a new connection (RFC 9112 §9.3.1)
	Failures int64  // requests that failed with no response
}

// UpstreamSource is implemented by whatever holds connection pools (the
// client's Transport, the reverse proxy). It is called once per scrape and
// should copy counters, not walk connections under a long lock.
type UpstreamSource interface {
	UpstreamStats() []UpstreamStats
}

// UpstreamFunc adapts a function to UpstreamSource.
type UpstreamFunc func() []UpstreamStats

func (f UpstreamFunc) UpstreamStats() []UpstreamStats { return f() }

type upstreamCollector struct {
	src                            UpstreamSource
	conns, dials, retries, failure *prometheus.Desc // immutable
}

// NewUpstreamCollector exports src's pools as dally_upstream_* metrics:
//
//	reg.MustRegister(metrics.NewUpstreamCollector(metrics.UpstreamFunc(proxy.PoolStats)))
//
// An upstream that disappears from src's answer disappears from the next
// scrape too.
func NewUpstreamCollector(src UpstreamSource) prometheus.Collector {
	d := func(n, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "upstream", n), help, labels, nil)
	}
	return &upstreamCollector{
		src:     src,
		conns:   d("connections", "Pooled upstream connections by state (idle, active).", "upstream", "state"),
		dials:   d("dials_total", "Upstream connections opened.", "upstream"),
		retries: d("retries_total", "Requests retried on a new upstream connection.", "upstream"),
		failure: d("failures_total", "Upstream requests that failed without a response.", "upstream"),
	}
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.dials
	ch <- c.retries
	ch <- c.failure
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.src.UpstreamStats() {
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(u.Idle), u.Upstream, "idle")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(u.Active), u.Upstream, "active")
		ch <- prometheus.MustNewConstMetric(c.dials, prometheus.CounterValue, float64(u.Dials), u.Upstream)
		ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(u.Retries), u.Upstream)
		ch <- prometheus.MustNewConstMetric(c.failure, prometheus.CounterValue, float64(u.Failures), u.Upstream)
	}
}

// NewFuncGauge is a gauge read from f at scrape time, named
// dally_<subsystem>_<name>: for a single figure that has no collector of its
// own (a cache's size, a pool's bound).
func NewFuncGauge(subsystem, name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help}, f)
}

// NewFuncCounter is NewFuncGauge for a cumulative count (name ends in _total).
func NewFuncCounter(subsystem, name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help}, f)
}
