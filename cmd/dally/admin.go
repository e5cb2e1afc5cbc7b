package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
)

// adminMux is the operator's listener, off the public port: /healthz
// (200, or 503 once a drain began so load balancers and readiness probes
// stop sending), /metrics and the status page, and pprof when asked.
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

// mountObservers mounts the metrics and status packages' handlers and
// returns their paths; until they land there is nothing more than
// /healthz.
func mountObservers(mux *http.ServeMux, d *daemon) []string {
	return nil
}
