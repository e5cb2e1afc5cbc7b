package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/cmd/dally/internal/config"
	"github.com/dallyhttp/dally/metrics"
	"github.com/dallyhttp/dally/proxy"
	"github.com/dallyhttp/dally/server"
	"github.com/dallyhttp/dally/status"
	"github.com/prometheus/client_golang/prometheus"
)

// serve is `dally [serve]`: flags over an optional config file.
func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dally serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := config.Default()
	file := fs.String("config", "", "YAML config file (docs/config.md); flags given override it")
	listen := fs.String("listen", config.DefaultListen, "address to listen on (replaces the file's listeners)")
	reuse := fs.Bool("reuse-port", false, "set SO_REUSEPORT on -listen so several processes can share the port")
	root := fs.String("root", "", "directory of static files to serve (replaces the file's routes; default: the embedded demo site)")
	admin := fs.String("admin", config.DefaultAdmin, "admin listener for /healthz, /metrics, the status page (off: none)")
	pprof := fs.Bool("pprof", false, "serve net/http/pprof on the admin listener under /debug/pprof/")
	level := fs.String("log-level", def.Log.Level, "error log level: debug, info, warn, error")
	logFormat := fs.String("log-format", def.Log.Format, "error log format: text or json")
	access := fs.String("access-log", "off", "access log: off, stderr, or a file path")
	accessFormat := fs.String("access-log-format", def.AccessLog.Format, "access log format: text or json")
	idle := fs.Duration("idle-timeout", server.DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request; advertised in Keep-Alive: timeout=")
	header := fs.Duration("header-timeout", server.DefaultHeaderTimeout, "time allowed from a request head's first byte to its end (heads slower than 256 B/s after 2 s are cut too)")
	body := fs.Duration("body-timeout", server.DefaultBodyTimeout, "how long a read of the request body may wait for the next byte")
	write := fs.Duration("write-timeout", server.DefaultWriteTimeout, "how long a write may wait for the client to make room")
	maxReq := fs.Int("max-requests", server.DefaultMaxRequests, "requests per connection; the last response carries Connection: close (-1: unlimited)")
	maxConns := fs.Int("max-conns", 0, "open connections; at the limit the least recently used idle one is closed for a newcomer (0: the descriptor limit less 128)")
	drain := fs.Duration("drain-timeout", config.DefaultDrainTimeout, "on SIGINT/SIGTERM, how long in-flight requests may take before connections are cut")
	drainDelay := fs.Duration("drain-delay", 0, "on SIGINT/SIGTERM, keep serving this long with /healthz at 503 before the drain starts")
	drainSpread := fs.Duration("drain-spread", 0, "during the drain, close idle connections at an even pace over this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dally [serve] [-config FILE] [flags]\n\nServes HTTP/1.1 on -listen and the admin listener on -admin. Without -config\nor -root, the demo site: / /echo /bytes/{n} /chunked/{n} /delay/{duration} /status/{code}.\nSIGTERM/SIGINT drain and stop, SIGHUP reloads the config file.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dally: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	rootAbs := *root
	if rootAbs != "" {
		rootAbs, _ = filepath.Abs(rootAbs)
	}
	// The flags that set one field each.
	fromFlag := map[string]func(*config.Config){
		"admin":             func(c *config.Config) { c.Admin.Address = *admin },
		"pprof":             func(c *config.Config) { c.Admin.Pprof = *pprof },
		"log-level":         func(c *config.Config) { c.Log.Level = *level },
		"log-format":        func(c *config.Config) { c.Log.Format = *logFormat },
		"access-log-format": func(c *config.Config) { c.AccessLog.Format = *accessFormat },
		"idle-timeout":      func(c *config.Config) { c.Server.IdleTimeout = config.Duration(*idle) },
		"header-timeout":    func(c *config.Config) { c.Server.HeaderTimeout = config.Duration(*header) },
		"body-timeout":      func(c *config.Config) { c.Server.BodyTimeout = config.Duration(*body) },
		"write-timeout":     func(c *config.Config) { c.Server.WriteTimeout = config.Duration(*write) },
		"max-requests":      func(c *config.Config) { c.Server.MaxRequestsPerConn = config.Num(*maxReq) },
		"max-conns":         func(c *config.Config) { c.Server.MaxConns = config.Num(*maxConns) },
		"drain-timeout":     func(c *config.Config) { c.Drain.Timeout = config.Duration(*drain) },
		"drain-delay":       func(c *config.Config) { c.Drain.Delay = config.Duration(*drainDelay) },
		"drain-spread":      func(c *config.Config) { c.Drain.Spread = config.Duration(*drainSpread) },
		"access-log": func(c *config.Config) {
			c.AccessLog.Enabled = *access != "off"
			if c.AccessLog.Enabled {
				c.AccessLog.File = *access
			}
		},
		"root": func(c *config.Config) { c.Routes = []config.Route{{Type: config.RouteStatic, Root: rootAbs}} },
	}
	// Flags given on the command line win over the file, at start and at
	// every reload.
	override := func(c *config.Config) {
		if set["listen"] || set["reuse-port"] || len(c.Listeners) == 0 {
			if set["listen"] || len(c.Listeners) == 0 {
				c.Listeners = []config.Listener{{Address: *listen}}
			}
			if set["reuse-port"] {
				for i := range c.Listeners {
					c.Listeners[i].ReusePort = *reuse
				}
			}
		}
		for name := range set {
			if f := fromFlag[name]; f != nil {
				f(c)
			}
		}
	}
	d := &daemon{stderr: &lockedWriter{w: stderr}, file: *file, override: override}
	return d.run()
}

// daemon is a running dally: one server.Server on every public listener,
// its handler swapped whole on reload.
type daemon struct {
	stderr   io.Writer
	file     string
	override func(*config.Config)

	handler  atomic.Pointer[http.Handler] // the routes with their access log
	draining atomic.Bool                  // /healthz answers 503
	level    slog.LevelVar
	log      *slog.Logger
	srv      *server.Server

	proxyList atomic.Pointer[[]*proxy.Proxy] // the current build's, for connState and metrics
	reg       *prometheus.Registry           // set before serving
	page      *status.Page                   // nil without an admin listener

	// Owned by the signal loop (run's goroutine).
	proxies   proxies // the current build's, by route
	cfg       *config.Config
	access    *output // the access log's destination, or nil
	logOut    *output
	listeners []net.Listener
}

func (d *daemon) load() (*config.Config, error) {
	if d.file == "" {
		return config.FromFlags(d.override)
	}
	return config.LoadWith(d.file, d.override)
}

func (d *daemon) run() int {
	// First, so that a signal during start-up waits for the loop below
	// instead of killing the process.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	cfg, err := d.load()
	if err != nil {
		fmt.Fprintln(d.stderr, err)
		return 1
	}
	d.cfg = cfg
	if d.logOut, err = openOutput(cfg.Path(cfg.Log.File), d.stderr, false); err != nil {
		fmt.Fprintf(d.stderr, "dally: log: %v\n", err)
		return 1
	}
	defer d.logOut.Close()
	d.level.Set(levelOf(cfg.Log.Level))
	d.log = slog.New(newLogHandler(d.logOut, cfg.Log.Format, &d.level))

	h, access, built, err := d.build(cfg, nil)
	if err != nil {
		d.log.Error("routes", "err", err)
		return 1
	}
	d.access = access
	d.handler.Store(&h)
	d.setProxies(built)
	defer func() {
		for _, p := range d.proxies {
			p.Close()
		}
	}()
	defer func() { d.access.Close() }()

	d.srv = &server.Server{ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelError)}
	if len(built) > 0 {
		// The hook runs at every request's end (and allocates): only the
		// proxies' 2N bound needs it.
		d.srv.ConnState = d.connState
	}
	d.registerMetrics()
	// Requests by status and latency, around whatever handler is in force.
	d.srv.Handler = metrics.InstrumentHandler(d.reg, http.HandlerFunc(d.serveHTTP))
	for _, l := range cfg.Listeners {
		ln, err := listen(l.Address, l.ReusePort)
		if err != nil {
			d.log.Error("listen", "err", err)
			d.closeListeners()
			return 1
		}
		d.listeners = append(d.listeners, ln)
	}
	var adminSrv *http.Server
	var adminLn net.Listener
	var mounted []string
	if cfg.Admin.Address != "off" {
		adminLn, err = listen(cfg.Admin.Address, false)
		switch {
		case err != nil && cfg.Admin.Defaulted:
			d.log.Warn("no admin listener: the default address is taken (set -admin or admin.address)", "err", err)
		case err != nil:
			d.log.Error("admin listener", "err", err)
			d.closeListeners()
			return 1
		default:
			mux, paths := adminMux(d, cfg.Admin.Pprof)
			mounted = paths
			adminSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
			go adminSrv.Serve(adminLn)
		}
	}

	cfg.Server.Apply(d.srv)
	cfg.Drain.Apply(d.srv)
	done := make(chan error, len(d.listeners))
	for _, ln := range d.listeners {
		go func() { done <- d.srv.Serve(ln) }()
	}
	d.banner(adminLn, mounted)

	for {
		select {
		case err := <-done:
			d.log.Error("serve", "err", err)
			d.srv.Close()
			return 1
		case s := <-sig:
			if s == syscall.SIGHUP {
				d.reload()
				continue
			}
			rc := d.drain(s, sig, len(d.listeners), done)
			if d.page != nil {
				d.page.Close()
			}
			if adminSrv != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				adminSrv.Shutdown(ctx)
				cancel()
			}
			return rc
		}
	}
}

func (d *daemon) serveHTTP(w http.ResponseWriter, r *http.Request) {
	(*d.handler.Load()).ServeHTTP(w, r)
}

// build makes the handler of a configuration: its routes behind its access
// log. The access log's destination is reused from prev when unchanged.
func (d *daemon) build(c *config.Config, prev *output) (http.Handler, *output, proxies, error) {
	rt, built, err := buildRouter(c, d.proxies, slog.NewLogLogger(d.log.Handler(), slog.LevelWarn))
	if err != nil {
		return nil, nil, nil, err
	}
	if !c.AccessLog.Enabled {
		return rt, nil, built, nil
	}
	out := prev
	if path := c.Path(c.AccessLog.File); prev == nil || prev.path != path {
		if out, err = openOutput(path, d.stderr, true); err != nil {
			return nil, nil, nil, fmt.Errorf("access log: %w", err)
		}
	}
	return &accessLog{next: rt, h: &lineHandler{w: out, json: c.AccessLog.Format == "json"}}, out, built, nil
}

// connState tells the current proxies about client connections (their 2N
// bound on upstream connections, RFC 2616 §8.1.4).
func (d *daemon) connState(ci server.ConnInfo, st server.State) {
	for _, p := range *d.proxyList.Load() {
		p.ConnState(ci, st)
	}
}

func (d *daemon) setProxies(built proxies) {
	list := make([]*proxy.Proxy, 0, len(built))
	for _, p := range built {
		list = append(list, p)
	}
	d.proxyList.Store(&list)
	d.proxies = built
}

func (d *daemon) banner(adminLn net.Listener, mounted []string) {
	what := "the embedded demo site"
	var parts []string
	for _, r := range d.cfg.Routes {
		s := r.Type + " " + r.Host + r.Path
		if r.Root != "" {
			s += " " + r.Root
		}
		parts = append(parts, s)
	}
	if len(d.cfg.Routes) != 1 || d.cfg.Routes[0].Type != config.RouteDemo {
		what = "routes: " + strings.Join(parts, "; ")
	}
	w := d.stderr
	fmt.Fprintf(w, "dally: serving %s\n", what)
	for _, ln := range d.listeners {
		fmt.Fprintf(w, "dally: public   http://%s/\n", ln.Addr())
	}
	if adminLn != nil {
		base := "http://" + adminLn.Addr().String()
		fmt.Fprintf(w, "dally: admin    %s/\n", base)
		fmt.Fprintf(w, "dally: health   %s/healthz\n", base)
		for _, p := range mounted {
			fmt.Fprintf(w, "dally: %-8s %s%s\n", strings.Trim(p, "/"), base, p)
		}
	}
	reload := "no config file to reload"
	if d.file != "" {
		reload = "SIGHUP reloads " + d.file
	}
	fmt.Fprintf(w, "dally: Ctrl-C or SIGTERM drains (up to %v), %s\n", d.cfg.Drain.Timeout, reload)
}

// reload re-reads the file and swaps the handler; listeners and open
// connections stay. What cannot change live is logged as needing a restart.
func (d *daemon) reload() {
	if d.file == "" {
		d.log.Warn("SIGHUP: no config file (-config) to reload")
		return
	}
	c, err := d.load()
	if err != nil {
		d.log.Error("reload failed; the running config stays", "err", err)
		return
	}
	h, access, built, err := d.build(c, d.access)
	if err != nil {
		d.log.Error("reload failed; the running config stays", "err", err)
		return
	}
	old := d.proxies
	d.setProxies(built)
	d.handler.Store(&h)
	retire(old, built)
	if d.access != nil && d.access != access {
		// In-flight requests may still log to the old destination; give
		// them the drain timeout before closing it.
		prev := d.access
		time.AfterFunc(time.Duration(c.Drain.Timeout), func() { prev.Close() })
	}
	d.access = access
	d.level.Set(levelOf(c.Log.Level))
	for _, s := range config.NeedsRestart(d.cfg, c) {
		d.log.Warn("needs restart: " + s)
	}
	// What needs a restart keeps its running value, so a later reload
	// compares against what is in force.
	c.Listeners, c.Server, c.Admin = d.cfg.Listeners, d.cfg.Server, d.cfg.Admin
	c.Log.Format, c.Log.File, c.Drain.Spread = d.cfg.Log.Format, d.cfg.Log.File, d.cfg.Drain.Spread
	d.cfg = c
	d.log.Info("reloaded", "file", d.file, "routes", len(c.Routes))
}

// drain is SIGTERM/SIGINT: /healthz turns 503, then after drain.delay
// server.Shutdown stops accepting, answers in-flight requests with
// Connection: close, closes idle connections once their minimum window
// has passed and the rest in stages, until drain.timeout; then it cuts
// what remains. A second signal cuts at once.
func (d *daemon) drain(s os.Signal, sig chan os.Signal, n int, done chan error) int {
	d.draining.Store(true)
	c := d.cfg
	if c.Drain.Delay > 0 {
		d.log.Info("draining: /healthz says 503; still serving", "signal", s.String(), "delay", c.Drain.Delay.String())
		select {
		case <-time.After(time.Duration(c.Drain.Delay)):
		case <-sig:
		}
	}
	d.log.Info("draining: no new connections; in-flight requests finish with Connection: close", "signal", s.String(), "deadline", c.Drain.Timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.Drain.Timeout))
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- d.srv.Shutdown(ctx) }()
	var err error
	select {
	case err = <-shut:
	case s := <-sig:
		d.log.Warn("second signal: closing every connection now", "signal", s.String())
		cancel()
		err = <-shut
	}
	for i := 0; i < n; i++ {
		<-done
	}
	st := d.srv.Stats()
	if err != nil {
		d.log.Warn("drain cut short", "err", err, "connections", st.Accepted, "requests", st.Requests)
		return 1
	}
	d.log.Info("stopped", "connections", st.Accepted, "requests", st.Requests)
	return 0
}

func (d *daemon) closeListeners() {
	for _, ln := range d.listeners {
		ln.Close()
	}
}

func levelOf(s string) slog.Level {
	var l slog.Level
	l.UnmarshalText([]byte(s)) // checked by config
	return l
}

func newLogHandler(w io.Writer, format string, level slog.Leveler) slog.Handler {
	o := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, o)
	}
	return slog.NewTextHandler(w, o)
}

// output is a log destination: stderr, or a file opened for appending;
// buffered (the access log) or not (the error log).
type output struct {
	path string
	w    io.Writer
	f    *os.File        // nil for stderr
	buf  *bufferedOutput // nil when unbuffered
}

func openOutput(path string, stderr io.Writer, buffered bool) (*output, error) {
	o := &output{path: path, w: stderr}
	if path != "stderr" && !strings.HasSuffix(path, string(filepath.Separator)+"stderr") {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		o.w, o.f = f, f
	}
	if buffered {
		o.buf = newBufferedOutput(o.w)
		o.w = o.buf
	}
	return o, nil
}

func (o *output) Write(b []byte) (int, error) { return o.w.Write(b) }

// Close flushes and closes the file (not stderr).
func (o *output) Close() error {
	if o == nil {
		return nil
	}
	var err error
	if o.buf != nil {
		err = o.buf.Close()
	}
	if o.f != nil {
		err = cmp.Or(err, o.f.Close())
	}
	return err
}

// lockedWriter serializes writes from several loggers to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
