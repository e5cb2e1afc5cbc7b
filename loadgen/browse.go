package loadgen

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// BrowseModel is how a simulated user browses. The zero value means
// DefaultBrowseModel.
type BrowseModel struct {
	// Embedded objects per page, uniform in [ObjectsMin, ObjectsMax].
	ObjectsMin, ObjectsMax int
	// Think time between pages of a session: Pareto with scale ThinkK and
	// shape ThinkAlpha, capped at ThinkMax. SURGE's "inactive OFF time"
	// (Barford and Crovella, "Generating Representative Web Workloads for
	// Network and Server Performance Evaluation", SIGMETRICS 1998): k = 1 s,
	// alpha = 1.5, a heavy tail (infinite variance) with mean 3 s.
	ThinkK     time.Duration
	ThinkAlpha float64
	ThinkMax   time.Duration
	// SameServer is the probability that a link leads to the same server.
	SameServer float64
	// PagesPerSession is the mean of a geometric number of pages per visit.
	PagesPerSession float64
	// After a session the user is away for a log-normal time with this
	// median and sigma of its logarithm, then returns.
	AbsenceMedian time.Duration
	AbsenceSigma  float64
	// ConnsPerServer is how many connections a user opens to one server at
	// most (RFC 2616 §8.1.4: a single-user client SHOULD NOT keep more
	// than 2).
	ConnsPerServer int
}

// DefaultBrowseModel: SURGE's think times; 5-15 objects per page and 2
// connections per server as a browser of the HTTP/1.1 era; sessions of 8
// pages on average and absences of a few minutes (median 4 min, sigma 1),
// which are this package's choices, not measured values.
var DefaultBrowseModel = BrowseModel{
	ObjectsMin: 5, ObjectsMax: 15,
	ThinkK: time.Second, ThinkAlpha: 1.5, ThinkMax: 30 * time.Minute,
	SameServer:      0.7,
	PagesPerSession: 8,
	AbsenceMedian:   4 * time.Minute, AbsenceSigma: 1,
	ConnsPerServer: 2,
}

// Visit is one page view in a user's schedule.
type Visit struct {
	Wait       time.Duration // before the page is requested, in model time (unscaled)
	NewSession bool          // Wait was an absence, not a think time
	Server     int           // index into Browse.Servers
	Page       int           // page number on that server
	Objects    int           // embedded objects fetched after the page
}

// PagePath and ObjectPath are the request targets of a visit.
func PagePath(v Visit) string { return "/page/" + strconv.Itoa(v.Page) }
func ObjectPath(v Visit, i int) string {
	return "/page/" + strconv.Itoa(v.Page) + "/obj/" + strconv.Itoa(i)
}

// Plan is one user's schedule: a deterministic function of the seed, the
// user number and the model, independent of how fast the server answers.
type Plan struct {
	m       BrowseModel
	servers int
	rng     *rand.Rand
	server  int
	started bool
}

// NewPlan returns user's schedule for seed.
func NewPlan(seed uint64, user, servers int, m BrowseModel) *Plan {
	rng := rand.New(rand.NewPCG(seed, uint64(user)))
	return &Plan{m: m.withDefaults(), servers: max(servers, 1), rng: rng, server: rng.IntN(max(servers, 1))}
}

func (m BrowseModel) withDefaults() BrowseModel {
	if m == (BrowseModel{}) {
		return DefaultBrowseModel
	}
	return m
}

func (p *Plan) pareto() time.Duration {
	u := 1 - p.rng.Float64() // (0,1]
	x := float64(p.m.ThinkK) / math.Pow(u, 1/p.m.ThinkAlpha)
	return min(time.Duration(x), p.m.ThinkMax)
}

func (p *Plan) absence() time.Duration {
	return time.Duration(float64(p.m.AbsenceMedian) * math.Exp(p.m.AbsenceSigma*p.rng.NormFloat64()))
}

// Next returns the next visit.
func (p *Plan) Next() Visit {
	var v Visit
	switch {
	case !p.started:
		// Users arrive spread over one absence, not all at once.
		p.started = true
		v.Wait, v.NewSession = time.Duration(p.rng.Float64()*float64(p.absence())), true
	case p.rng.Float64() < 1/p.m.PagesPerSession:
		v.Wait, v.NewSession = p.absence(), true
		p.server = p.rng.IntN(p.servers)
	default:
		v.Wait = p.pareto()
		if p.servers > 1 && p.rng.Float64() >= p.m.SameServer {
			p.server = (p.server + 1 + p.rng.IntN(p.servers-1)) % p.servers
		}
	}
	v.Server = p.server
	v.Page = p.rng.IntN(1000)
	v.Objects = p.m.ObjectsMin + p.rng.IntN(p.m.ObjectsMax-p.m.ObjectsMin+1)
	return v
}

// Browse runs simulated users against Servers.
type Browse struct {
	Servers   []string // host:port of each server
	Seed      uint64
	Model     BrowseModel // zero: DefaultBrowseModel
	TimeScale float64     // waits are divided by this (time compression); 0 means 1
	Dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout   time.Duration // per request
	HTTP10    bool
	KeepAlive bool
	// OnRequest, if set, is called before each request (for tests).
	OnRequest func(user, server int, target string)

	pages, objects, sessions, retries atomic.Int64
}

// BrowseSummary counts what the users did.
type BrowseSummary struct {
	Pages, Objects, Sessions, Retries int64
}

// Summary reports the counts of the last Run.
func (b *Browse) Summary() BrowseSummary {
	return BrowseSummary{b.pages.Load(), b.objects.Load(), b.sessions.Load(), b.retries.Load()}
}

// Run runs users simulated users for d (or until ctx is done) and returns
// per-request results; dialer, if set, is where connections are counted
// (it should be what Dial dials with).
func (b *Browse) Run(ctx context.Context, users int, d time.Duration, dialer *CountingDialer, progress func(Snapshot)) (*Result, error) {
	if d <= 0 || users < 1 || len(b.Servers) == 0 || b.Dial == nil {
		return nil, errors.New("loadgen: Browse needs users >= 1, a duration, servers and Dial")
	}
	scale := b.TimeScale
	if scale <= 0 {
		scale = 1
	}
	m := b.Model.withDefaults()
	start := time.Now()
	end := start.Add(d)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	col := newCollector(users, end)
	var wg sync.WaitGroup
	for u := 0; u < users; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.user(ctx, u, m, scale, col)
		}()
	}
	stopProgress := everySecond(progress, func() Snapshot { return col.snapshot(time.Since(start), dialer) })
	wg.Wait()
	stopProgress()
	return col.result(min(time.Since(start), d), dialer), nil
}

// user is one simulated user: a browser with up to ConnsPerServer
// connections to each server, kept until the server closes them.
func (b *Browse) user(ctx context.Context, u int, m BrowseModel, scale float64, col *collector) {
	st, h := col.worker(u)
	var mu sync.Mutex // guards col records from the user's two fetchers
	plan := NewPlan(b.Seed, u, len(b.Servers), m)
	conns := make([][]*RawWorker, len(b.Servers))
	defer func() {
		for _, cs := range conns {
			for _, w := range cs {
				b.retries.Add(w.Retries)
				w.Close()
			}
		}
	}()
	conn := func(s, i int) *RawWorker {
		if conns[s] == nil {
			conns[s] = make([]*RawWorker, m.ConnsPerServer)
		}
		if conns[s][i] == nil {
			conns[s][i] = NewRawWorker(b.Servers[s], &Request{Host: b.Servers[s], KeepAlive: b.KeepAlive, HTTP10: b.HTTP10}, b.Dial)
			conns[s][i].Timeout = b.Timeout
		}
		return conns[s][i]
	}
	fetch := func(w *RawWorker, s int, target string) {
		if b.OnRequest != nil {
			b.OnRequest(u, s, target)
		}
		w.SetTarget(target)
		var out [1]Outcome
		t0 := time.Now()
		w.Do(ctx, out[:])
		mu.Lock()
		col.record(st, h, t0, &out[0], ctx.Err() != nil)
		mu.Unlock()
	}
	for {
		v := plan.Next()
		t := time.NewTimer(time.Duration(float64(v.Wait) / scale))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if v.NewSession {
			b.sessions.Add(1)
		}
		fetch(conn(v.Server, 0), v.Server, PagePath(v))
		b.pages.Add(1)
		// The objects go over the connections in parallel, each taking
		// the next object not yet fetched, as a browser's do.
		var next atomic.Int64
		var fg sync.WaitGroup
		for i := 0; i < min(m.ConnsPerServer, v.Objects); i++ {
			fg.Add(1)
			w := conn(v.Server, i)
			go func() {
				defer fg.Done()
				for ctx.Err() == nil {
					o := int(next.Add(1)) - 1
					if o >= v.Objects {
						return
					}
					fetch(w, v.Server, ObjectPath(v, o))
					b.objects.Add(1)
				}
			}()
		}
		fg.Wait()
		if ctx.Err() != nil {
			return
		}
	}
}
