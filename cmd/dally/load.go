package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/dallyhttp/dally/client"
	"github.com/dallyhttp/dally/loadgen"
)

type headerFlags [][2]string

func (h *headerFlags) String() string { return fmt.Sprint(*h) }
func (h *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want Name: value", v)
	}
	*h = append(*h, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	return nil
}

// loadCmd is `dally load`: it runs a bounded load against URL and prints
// what a connection manager is judged by.
func loadCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dally load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.Int("c", 50, "connections (with -workload browse: simulated users)")
	dur := fs.Duration("d", 10*time.Second, "duration; the run always stops by then (with -n and no -d: 10m)")
	count := fs.Int64("n", 0, "stop after this many requests (0: run for -d)")
	rate := fs.Float64("rate", 0, "requests/s over all connections, open loop; latency counts from each request's intended send time (0: closed loop)")
	pipe := fs.Int("pipeline", 1, "requests outstanding per connection (-transport dally: its MaxPipelineDepth, with -c x N requests in flight; raw: batches of N written back to back; net/http cannot pipeline)")
	keep := fs.Bool("keepalive", true, "reuse connections; false sends Connection: close, one connection per request")
	h10 := fs.Bool("http1.0", false, "send HTTP/1.0 requests (with Connection: keep-alive unless -keepalive=false); -transport raw only")
	method := fs.String("method", "GET", "request method")
	var hdrs headerFlags
	fs.Var(&hdrs, "H", "request header `Name: value` (repeatable)")
	body := fs.String("body", "", "request body; @file reads it from a file")
	timeout := fs.Duration("timeout", 10*time.Second, "per request (per pipelined batch); past it the request counts as a timeout")
	transport := fs.String("transport", "raw", "raw: dally's h1 codec, one connection per worker, no pool (the instrument: as fast as wrk); dally: dally's client (client.Transport, MaxConnsPerHost = -c), to measure the client itself; nethttp: net/http's Transport (MaxConnsPerHost = -c)")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	progress := fs.Bool("progress", false, "print a progress line every second even when stderr is not a terminal")
	workload := fs.String("workload", "fixed", "fixed: the same request from every connection; browse: simulated users (see -h text)")
	seed := fs.Uint64("seed", 1, "browse: the seed of every user's schedule (same seed, same requests)")
	scale := fs.Float64("time-scale", 1, "browse: think times and absences are divided by this (time compression)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: dally load [flags] URL [URL...]

Drives URL with -c connections for -d (or -n requests) and reports
requests/s, connections opened, reuse (requests per connection), errors by
kind and a latency histogram (log-linear buckets, <= 0.4% error).

-workload browse: -c users each load a page and 5-15 embedded objects over
up to 2 connections per server, think (Pareto, k=1 s, alpha=1.5: SURGE's
inactive OFF times), follow a link to the same server (p=0.7) or another of
the URLs given, and after a session (geometric, mean 8 pages) leave for a
log-normal absence (median 4 min). Same -seed, same schedule.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	if *count > 0 && !set["d"] {
		*dur = 10 * time.Minute
	}
	if *conns < 1 || *pipe < 1 || *dur <= 0 || *count < 0 || *rate < 0 || *scale <= 0 {
		fmt.Fprintln(stderr, "dally load: -c and -pipeline must be >= 1, -d > 0, -n and -rate >= 0, -time-scale > 0")
		return 2
	}
	var bodyBytes []byte
	if strings.HasPrefix(*body, "@") {
		b, err := os.ReadFile((*body)[1:])
		if err != nil {
			fmt.Fprintf(stderr, "dally load: %v\n", err)
			return 2
		}
		bodyBytes = b
	} else if *body != "" {
		bodyBytes = []byte(*body)
	}
	var targets []*url.URL
	for _, a := range fs.Args() {
		u, err := url.Parse(a)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			fmt.Fprintf(stderr, "dally load: %q: want an http:// URL\n", a)
			return 2
		}
		targets = append(targets, u)
	}
	if *workload != "browse" && len(targets) > 1 {
		fmt.Fprintln(stderr, "dally load: several URLs need -workload browse")
		return 2
	}

	dialer := &loadgen.CountingDialer{Dialer: net.Dialer{Timeout: 5 * time.Second}}
	cfg := loadgen.Config{
		Workers: *conns, Duration: *dur, Requests: *count, Rate: *rate, Pipeline: *pipe,
		Dialer: dialer,
	}
	u := targets[0]
	req := &loadgen.Request{
		Method: *method, Target: u.RequestURI(), Host: u.Host, Header: hdrs,
		Body: bodyBytes, HTTP10: *h10, KeepAlive: *keep,
	}
	var browse *loadgen.Browse
	transportStats := func() any { return nil }
	switch *workload {
	case "fixed":
		fw, err := fixedWorkers(*transport, u, req, *conns, *pipe, *timeout, dialer)
		if err != nil {
			fmt.Fprintf(stderr, "dally load: %v\n", err)
			return 2
		}
		cfg.NewWorker, cfg.Workers, cfg.Pipeline = fw.newWorker, fw.workers, fw.batch
		defer fw.close()
		transportStats = fw.stats
	case "browse":
		if *rate > 0 || *pipe > 1 || *count > 0 || (set["transport"] && *transport != "raw") {
			fmt.Fprintln(stderr, "dally load: -workload browse paces itself (no -rate, -pipeline, -n) and runs its own connections per user (-transport raw)")
			return 2
		}
		var servers []string
		for _, t := range targets {
			servers = append(servers, t.Host)
		}
		browse = &loadgen.Browse{
			Servers: servers, Seed: *seed, TimeScale: *scale,
			Dial: dialer.DialContext, Timeout: *timeout, HTTP10: *h10, KeepAlive: *keep,
		}
	default:
		fmt.Fprintf(stderr, "dally load: -workload %q: want fixed or browse\n", *workload)
		return 2
	}
	if *progress || isTerminal(stderr) {
		var last loadgen.Snapshot
		cfg.Progress = func(s loadgen.Snapshot) {
			fmt.Fprintf(stderr, "\r%5.0fs  %d requests  %.0f/s  %d errors  %d connections   ",
				s.Elapsed.Seconds(), s.Requests, float64(s.Requests-last.Requests)/(s.Elapsed-last.Elapsed).Seconds(),
				s.Errors, s.Conns)
			last = s
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var res *loadgen.Result
	var err error
	if browse != nil {
		res, err = browse.Run(ctx, *conns, *dur, dialer, cfg.Progress)
	} else {
		res, err = loadgen.Run(ctx, cfg)
	}
	if cfg.Progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dally load: %v\n", err)
		return 1
	}
	mode := "closed loop"
	if *rate > 0 {
		mode = fmt.Sprintf("open loop at %g/s", *rate)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if *workload == "browse" {
			*transport = "raw"
		}
		if err := enc.Encode(jsonResult(res, fs.Args(), *conns, *transport, mode, browse, transportStats())); err != nil {
			return 1
		}
		return 0
	}
	unit := "connections"
	if browse != nil {
		unit, *transport, mode = "users", "raw", fmt.Sprintf("browsing (seed %d, time scale %g)", *seed, *scale)
		s := browse.Summary()
		defer fmt.Fprintf(stdout, "  browse       %d pages, %d objects, %d sessions, %d stale-connection retries\n", s.Pages, s.Objects, s.Sessions, s.Retries)
	}
	printResult(stdout, res, fs.Args(), *conns, unit, *transport, mode)
	if ts, ok := transportStats().(client.Stats); ok {
		fmt.Fprintf(stdout, "  client       %d requests written, %d on reused connections, %d pipelined, %d retried\n",
			ts.Requests, ts.Reused, ts.Pipelined, ts.Retries)
	}
	return 0
}

// fixed is the worker set of the fixed workload.
type fixed struct {
	newWorker func(int) (loadgen.Worker, error)
	workers   int        // goroutines
	batch     int        // requests per Worker.Do
	close     func()     // after the run: close the pool's idle connections
	stats     func() any // the transport's own counters, for -json
}

// fixedWorkers builds the workers of the fixed workload on a transport.
func fixedWorkers(transport string, u *url.URL, req *loadgen.Request, conns, pipe int, timeout time.Duration, dialer *loadgen.CountingDialer) (*fixed, error) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	none := func() any { return nil }
	var rt http.RoundTripper
	f := &fixed{workers: conns, batch: 1, close: func() {}, stats: none}
	switch transport {
	case "raw":
		f.newWorker = func(int) (loadgen.Worker, error) {
			w := loadgen.NewRawWorker(addr, req, dialer.DialContext)
			w.Timeout = timeout
			return w, nil
		}
		f.batch = pipe
		return f, nil
	case "dally":
		if req.HTTP10 {
			return nil, errors.New("-http1.0 needs -transport raw (clients send HTTP/1.1)")
		}
		tr := &client.Transport{
			DialContext:         dialer.DialContext,
			MaxConnsPerHost:     conns,
			MaxIdleConnsPerHost: conns,
			DisableKeepAlives:   !req.KeepAlive,
			MaxPipelineDepth:    pipe,
			IdleTimeout:         time.Hour, // the run, not the client, ends connections
		}
		// -c connections with -pipeline requests outstanding on each: the
		// transport pipelines what the goroutines hand it.
		f.workers = conns * pipe
		f.close, f.stats = tr.CloseIdleConnections, func() any { return tr.Stats() }
		rt = tr
	case "nethttp":
		if pipe > 1 || req.HTTP10 {
			return nil, errors.New("-transport nethttp cannot pipeline or send HTTP/1.0; use -transport dally or raw")
		}
		tr := &http.Transport{
			DialContext:         dialer.DialContext,
			MaxConnsPerHost:     conns,
			MaxIdleConnsPerHost: conns,
			DisableKeepAlives:   !req.KeepAlive,
			DisableCompression:  true,
		}
		f.close = tr.CloseIdleConnections
		rt = tr
	default:
		return nil, fmt.Errorf("-transport %q: want dally, raw or nethttp", transport)
	}
	hreq, err := http.NewRequest(req.Method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range req.Header {
		hreq.Header.Add(h[0], h[1])
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "dally-load")
	}
	f.newWorker = func(int) (loadgen.Worker, error) {
		return &loadgen.RoundTripWorker{RT: rt, Req: hreq, Body: req.Body, Timeout: timeout}, nil
	}
	return f, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func printResult(w io.Writer, r *loadgen.Result, urls []string, conns int, unit, transport, mode string) {
	fmt.Fprintf(w, "dally load %s: %d %s, %s, %s, transport %s\n",
		strings.Join(urls, " "), conns, unit, r.Elapsed.Round(time.Millisecond), mode, transport)
	fmt.Fprintf(w, "  requests     %d (%.1f/s)\n", r.Requests, r.RPS)
	fmt.Fprintf(w, "  connections  %d opened (%d dials failed), reuse %.2f requests/connection\n", r.ConnsOpened, r.DialsFailed, r.Reuse)
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "  errors       none")
	} else {
		var parts []string
		for _, k := range r.ErrorKinds() {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Errors[k]))
		}
		fmt.Fprintf(w, "  errors       %s\n", strings.Join(parts, ", "))
	}
	codes := make([]int, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", c, r.Status[c]))
	}
	fmt.Fprintf(w, "  status       %s\n", strings.Join(parts, ", "))
	h := &r.Latency
	fmt.Fprintf(w, "  latency ms   min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
		ms(h.Min()), ms(h.Mean()), ms(h.Quantile(.5)), ms(h.Quantile(.9)), ms(h.Quantile(.99)), ms(h.Quantile(.999)), ms(h.Max()))
	printHistogram(w, h)
}

// printHistogram draws the latency distribution in 1-2-5 steps.
func printHistogram(w io.Writer, h *loadgen.Histogram) {
	n := h.Count()
	if n == 0 {
		return
	}
	bs := h.Buckets()
	var edges []time.Duration
	for e := time.Duration(10 * time.Microsecond); e < 100*time.Second; e *= 10 {
		edges = append(edges, e, 2*e, 5*e)
	}
	counts := make([]uint64, len(edges)+1)
	for _, b := range bs {
		i := sort.Search(len(edges), func(i int) bool { return b.Lo < edges[i] })
		counts[i] += b.Count
	}
	first, last := 0, len(counts)-1
	for first < last && counts[first] == 0 {
		first++
	}
	for last > first && counts[last] == 0 {
		last--
	}
	for i := first; i <= last; i++ {
		label := "more"
		if i < len(edges) {
			label = "< " + edges[i].String()
		}
		frac := float64(counts[i]) / float64(n)
		fmt.Fprintf(w, "  %10s %6.2f%% %s\n", label, 100*frac, strings.Repeat("#", int(frac*50+0.5)))
	}
}

type jsonLatency struct {
	MinMS, MeanMS, P50MS, P90MS, P99MS, P999MS, MaxMS float64
}

func jsonResult(r *loadgen.Result, urls []string, conns int, transport, mode string, b *loadgen.Browse, ts any) map[string]any {
	h := &r.Latency
	out := map[string]any{
		"urls": urls, "connections": conns, "transport": transport, "mode": mode,
		"elapsed_s": r.Elapsed.Seconds(), "requests": r.Requests, "rps": r.RPS,
		"conns_opened": r.ConnsOpened, "dials_failed": r.DialsFailed, "reuse": r.Reuse,
		"errors": r.Errors, "status": r.Status, "discarded_at_end": r.Discarded,
		"latency_ms": map[string]float64{
			"min": ms(h.Min()), "mean": ms(h.Mean()), "p50": ms(h.Quantile(.5)), "p90": ms(h.Quantile(.9)),
			"p99": ms(h.Quantile(.99)), "p99.9": ms(h.Quantile(.999)), "max": ms(h.Max()),
		},
	}
	if b != nil {
		out["browse"] = b.Summary()
	}
	if ts != nil {
		out["transport_stats"] = ts
	}
	return out
}
