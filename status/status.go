// Package status serves dally's live status page: the connection table and
// plots of the last minutes (connections by state, pressure, the idle
// timeout in force), for an operator's browser on the admin listener.
//
//	page := status.Handler(srv)
//	defer page.Close()
//	admin.Handle("/status/", http.StripPrefix("/status", page))
//
// Endpoints (relative to where it is mounted):
//
//	/             the HTML page (embedded; no external script, style or font)
//	/status.json  a snapshot: counters, the connection table (bounded), and
//	              the sampled history; ?since=SEQ returns only newer samples
//
// The history is a ring of samples taken by one goroutine, every second by
// default for ten minutes. It starts on the first request (or Start) and
// stops on Close.
package status

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dallyhttp/dally/server"
)

//go:embed page.html
var pageHTML []byte

// The page is served with a first snapshot in place of this marker, so it
// paints at once. json.Marshal escapes <, > and &, so the JSON cannot end
// the script element early.
var pageHead, pageTail = func() ([]byte, []byte) {
	head, tail, ok := bytes.Cut(pageHTML, []byte("/*SNAPSHOT*/"))
	if !ok {
		panic("status: page.html lacks its snapshot marker")
	}
	return head, tail
}()

// Defaults for the options.
const (
	DefaultRows     = 200
	DefaultInterval = time.Second
	DefaultHistory  = 10 * time.Minute
)

// States are the connection states the page reports, in the order of the
// "states" list in status.json and of each sample's counts. A closed
// connection has left the table, so "closed" is not among them.
var States = []server.State{
	server.StateIdle, server.StateActive, server.StateReading, server.StatePaused,
	server.StateClosing, server.StateNew, server.StateHijacked,
}

// Option configures a Page.
type Option func(*config)

type config struct {
	rows     int
	interval time.Duration
	history  time.Duration
	title    string
}

// WithRows bounds the connection rows in each snapshot (default 200; the
// rest are counted, not listed).
func WithRows(n int) Option { return func(c *config) { c.rows = n } }

// WithInterval sets how often the history is sampled (default 1 s).
func WithInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithHistory sets how far back the plots reach (default 10 min).
func WithHistory(d time.Duration) Option { return func(c *config) { c.history = d } }

// WithTitle names the server on the page (default "dally").
func WithTitle(t string) Option { return func(c *config) { c.title = t } }

// Page is the status page of one server: an http.Handler with a sampler
// goroutine behind it.
type Page struct {
	srv *server.Server
	cfg config // immutable after Handler

	mu      sync.Mutex
	ring    []Sample // guarded by mu; len is the capacity, filled circularly
	n       int      // guarded by mu: samples ever taken (the last one's Seq)
	started bool     // guarded by mu
	closed  bool     // guarded by mu
	stop    context.CancelFunc
	done    chan struct{}
}

// Handler returns the status page of s. Sampling begins at the first
// request or at Start; Close stops it.
func Handler(s *server.Server, opts ...Option) *Page {
	cfg := config{rows: DefaultRows, interval: DefaultInterval, history: DefaultHistory, title: "dally"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.rows <= 0 {
		cfg.rows = DefaultRows
	}
	if cfg.interval <= 0 {
		cfg.interval = DefaultInterval
	}
	if cfg.history < cfg.interval {
		cfg.history = cfg.interval
	}
	return &Page{srv: s, cfg: cfg, ring: make([]Sample, int(cfg.history/cfg.interval))}
}

// Start begins sampling now (the plots then hold history from before anyone
// opened the page). It takes the first sample before it returns. Calling it
// again, or after Close, does nothing.
func (p *Page) Start() {
	p.mu.Lock()
	if p.started || p.closed {
		p.mu.Unlock()
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	p.mu.Unlock()
	p.sample()
	go p.run(ctx)
}

// Close stops the sampler and waits for it. The page still answers, with
// the history it has.
func (p *Page) Close() error {
	p.mu.Lock()
	p.closed = true
	stop, done := p.stop, p.done
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return nil
}

func (p *Page) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.sample()
		}
	}
}

// Sample is one point of the history.
type Sample struct {
	Seq         int     `json:"seq"`
	T           int64   `json:"t"`     // Unix milliseconds
	Conns       []int   `json:"conns"` // by state, in the order of States
	Open        int64   `json:"open"`
	Requests    int64   `json:"requests"` // cumulative: the page plots its rate
	Pressure    float64 `json:"pressure"`
	Saturation  float64 `json:"saturation"`
	IdleTimeout float64 `json:"idle_timeout"` // seconds
	KeepAlive   int     `json:"keep_alive"`   // seconds advertised
}

func (p *Page) sample() {
	st := p.srv.Stats()
	by := p.srv.ConnsByState()
	s := Sample{
		T: time.Now().UnixMilli(), Conns: make([]int, len(States)),
		Open: st.Open, Requests: st.Requests, Pressure: st.Pressure, Saturation: st.Saturation,
		IdleTimeout: st.IdleTimeout.Seconds(), KeepAlive: st.KeepAlive,
	}
	for i, state := range States {
		s.Conns[i] = by[state]
	}
	p.mu.Lock()
	p.n++
	s.Seq = p.n
	p.ring[(p.n-1)%len(p.ring)] = s
	p.mu.Unlock()
}

// since returns the samples newer than seq, oldest first, and the latest.
func (p *Page) since(seq int) (out []Sample, last Sample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return nil, Sample{}
	}
	first := max(seq+1, p.n-len(p.ring)+1, 1)
	for i := first; i <= p.n; i++ {
		out = append(out, p.ring[(i-1)%len(p.ring)])
	}
	return out, p.ring[(p.n-1)%len(p.ring)]
}

// Snapshot is the body of /status.json.
type Snapshot struct {
	Title      string         `json:"title"`
	Now        int64          `json:"now"`         // Unix milliseconds
	IntervalMS int64          `json:"interval_ms"` // between samples
	HistoryMS  int64          `json:"history_ms"`  // the ring's span
	States     []string       `json:"states"`      // names for Sample.Conns
	Stats      Stats          `json:"stats"`
	ByState    map[string]int `json:"by_state"` // at the latest sample
	Conns      []Conn         `json:"conns"`
	ConnsTotal int64          `json:"conns_total"`   // open now
	Omitted    int64          `json:"conns_omitted"` // open but not listed (rows bound)
	Samples    []Sample       `json:"samples"`       // newer than ?since=
}

// Stats is server.Stats with units in the names.
type Stats struct {
	Accepted       int64            `json:"accepted"`
	Open           int64            `json:"open"`
	Idle           int              `json:"idle"`
	Requests       int64            `json:"requests"`
	Limit503       int64            `json:"limit_503"`
	Greedy503      int64            `json:"greedy_503"`
	Pauses         int64            `json:"pauses"`
	AcceptErrors   int64            `json:"accept_errors"`
	BadRequests    int64            `json:"bad_requests"`
	HeaderTimeouts int64            `json:"header_timeouts"`
	StagedCloses   int64            `json:"staged_closes"`
	Closed         map[string]int64 `json:"closed"`
	Workers        int              `json:"workers"`
	BusyWorkers    int              `json:"busy_workers"`
	Queued         int              `json:"queued"`
	Pressure       float64          `json:"pressure"`
	Saturation     float64          `json:"saturation"`
	Saturated      bool             `json:"saturated"`
	IdleTimeout    float64          `json:"idle_timeout_seconds"`
	KeepAlive      int              `json:"keep_alive_seconds"`
}

// Conn is one row of the connection table.
type Conn struct {
	ID       uint64  `json:"id"`
	Client   string  `json:"client"`
	State    string  `json:"state"`
	Age      float64 `json:"age_seconds"`
	Idle     float64 `json:"idle_seconds"` // 0 unless idle
	Requests int     `json:"requests"`
}

func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p.Start()
	w.Header().Set("Cache-Control", "no-store")
	switch path := r.URL.Path; {
	case strings.HasSuffix(path, "/status.json") || path == "status.json":
		seq := 0
		if v := r.URL.Query().Get("since"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				http.Error(w, "since: not a sample number", http.StatusBadRequest)
				return
			}
			seq = n
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.Snapshot(seq))
	case path == "" || path == "/" || path == "/index.html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:")
		snap, err := json.Marshal(p.Snapshot(0))
		if err != nil {
			snap = nil // the page then fetches its first snapshot
		}
		w.Write(pageHead)
		w.Write(snap)
		w.Write(pageTail)
	default:
		http.NotFound(w, r)
	}
}

// Snapshot returns what /status.json serves: samples newer than since.
func (p *Page) Snapshot(since int) Snapshot {
	st := p.srv.Stats()
	rows := p.srv.ConnTable(p.cfg.rows)
	samples, last := p.since(since)
	snap := Snapshot{
		Title: p.cfg.title, Now: time.Now().UnixMilli(),
		IntervalMS: p.cfg.interval.Milliseconds(), HistoryMS: p.cfg.history.Milliseconds(),
		States: make([]string, len(States)),
		Stats: Stats{
			Accepted: st.Accepted, Open: st.Open, Idle: st.Idle, Requests: st.Requests,
			Limit503: st.Rejected503, Greedy503: st.Greedy503, Pauses: st.Pauses,
			AcceptErrors: st.AcceptErrors, BadRequests: st.BadRequests, HeaderTimeouts: st.HeaderTimeouts,
			StagedCloses: st.StagedCloses, Closed: st.Closed,
			Workers: st.Workers, BusyWorkers: st.BusyWorkers, Queued: st.Queued,
			Pressure: st.Pressure, Saturation: st.Saturation, Saturated: st.Saturated,
			IdleTimeout: st.IdleTimeout.Seconds(), KeepAlive: st.KeepAlive,
		},
		ByState:    map[string]int{},
		Conns:      make([]Conn, 0, len(rows)),
		ConnsTotal: st.Open,
		Samples:    samples,
	}
	if snap.Samples == nil {
		snap.Samples = []Sample{}
	}
	for i, s := range States {
		snap.States[i] = s.String()
		if last.Conns != nil {
			snap.ByState[s.String()] = last.Conns[i]
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	for _, c := range rows {
		snap.Conns = append(snap.Conns, Conn{
			ID: c.ID, Client: c.Remote, State: c.State.String(),
			Age: round3(c.Age.Seconds()), Idle: round3(c.Idle.Seconds()), Requests: c.Requests,
		})
	}
	snap.Omitted = max(st.Open-int64(len(rows)), 0)
	return snap
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
