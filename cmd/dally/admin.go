package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/dallyhttp/dally/metrics"
	"github.com/dallyhttp/dally/proxy"
	"github.com/dallyhttp/dally/status"
)

// adminMux is the operator's listener, off the public port: /healthz
// (200, or 503 once a drain began so load balancers and readiness probes
// stop sending), /metrics (Prometheus), /status/ (the live status page),
// and pprof when asked.
func adminMux(d *daemon, withPprof bool) (*http.ServeMux, []string) {
	mux := http.NewServeMux()
	var paths []string
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if d.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("draining\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	paths = append(paths, mountObservers(mux, d)...)
	if withPprof {
		paths = append(paths, "/debug/pprof/")
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>dally admin</title><h1>dally admin</h1><ul><li><a href=\"/healthz\">/healthz</a>")
		for _, p := range paths {
			fmt.Fprintf(w, "<li><a href=\"%s\">%s</a>", p, p)
		}
		fmt.Fprint(w, "</ul>\n")
	})
	return mux, paths
}

// mountObservers mounts Prometheus metrics (d.reg) and the live status
// page, and returns their paths.
func mountObservers(mux *http.ServeMux, d *daemon) []string {
	mux.Handle("GET /metrics", metrics.Handler(d.reg))
	d.page = status.Handler(d.srv, status.WithTitle("dally"))
	d.page.Start() // history from the start, not from the first visit
	mux.Handle("/status/", http.StripPrefix("/status", d.page))
	mux.Handle("GET /status", http.RedirectHandler("/status/", http.StatusMovedPermanently))
	return []string{"/metrics", "/status/"}
}

// registerMetrics fills d.reg: the server's collector, and the proxies'
// connection counts (summed over the proxy routes in force).
func (d *daemon) registerMetrics() {
	d.reg = metrics.NewRegistry()
	d.reg.MustRegister(metrics.NewServerCollector("", d.srv))
	sum := func(f func(proxy.Stats) int) func() float64 {
		return func() float64 {
			n := 0
			for _, p := range *d.proxyList.Load() {
				n += f(p.Stats())
			}
			return float64(n)
		}
	}
	d.reg.MustRegister(
		metrics.NewFuncGauge("proxy", "upstream_connections", "Open upstream connections of the proxy routes.", sum(func(s proxy.Stats) int { return s.UpstreamConns })),
		metrics.NewFuncGauge("proxy", "requests_in_flight", "Requests the proxy routes wait for or stream.", sum(func(s proxy.Stats) int { return s.InFlight })),
		metrics.NewFuncGauge("proxy", "tunnels", "Open CONNECT and upgrade tunnels.", sum(func(s proxy.Stats) int { return s.Tunnels })),
	)
}
