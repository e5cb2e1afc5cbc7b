package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Worker sends requests on its own connection (or pool). The engine calls
// Do from one goroutine per Worker.
type Worker interface {
	// Do sends len(out) requests, pipelined when there is more than one,
	// and fills out[i] with each one's outcome and the time it completed.
	// It returns when every request has an outcome.
	Do(ctx context.Context, out []Outcome)
	// Close releases the worker's connections.
	Close() error
}

// Outcome is what happened to one request.
type Outcome struct {
	Status int       // response status; 0 when Err is set
	Err    error     // transport error
	End    time.Time // when the response (or the error) was complete
}

// Config is one run of the engine.
type Config struct {
	Workers  int           // connections, each driven by one goroutine (default 1)
	Duration time.Duration // the run stops after this; required (> 0): runs are bounded
	Requests int64         // stop after this many requests; 0: only Duration bounds
	// Rate, if > 0, paces requests over all workers at this many per second
	// (open loop). Latency is then measured from each request's intended
	// send time, not from when a worker got to it, so time spent queued
	// behind a slow response counts (no coordinated omission).
	Rate     float64
	Pipeline int // requests written back to back per round trip (default 1)
	// NewWorker makes worker i. Required.
	NewWorker func(i int) (Worker, error)
	// Dialer, if set, is where connections are counted (ConnsOpened).
	Dialer *CountingDialer
	// Progress, if set, is called about once a second during the run.
	Progress func(Snapshot)
}

// Snapshot is the run so far, for a progress line.
type Snapshot struct {
	Elapsed  time.Duration
	Requests int64
	Errors   int64
	Conns    int64
}

// Result is the outcome of a run.
type Result struct {
	Elapsed     time.Duration
	Requests    int64            // responses received, any status
	Errors      map[string]int64 // by kind: dial, timeout, reset, eof, protocol, other, status_4xx, status_5xx
	Status      map[int]int64    // responses by status code
	Discarded   int64            // requests cut by the end of the run, not counted
	ConnsOpened int64            // connections the dialer established
	DialsFailed int64
	RPS         float64   // Requests / Elapsed
	Reuse       float64   // Requests / ConnsOpened: requests per connection
	Latency     Histogram // of every response received
}

// TransportErrors is the number of requests that got no response.
func (r *Result) TransportErrors() int64 {
	var n int64
	for k, v := range r.Errors {
		if k != "status_4xx" && k != "status_5xx" {
			n += v
		}
	}
	return n
}

// ErrorKinds returns the error kinds in a stable order.
func (r *Result) ErrorKinds() []string {
	ks := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

const histShards = 8

// workerStats is owned by one worker goroutine; the counters the progress
// line reads are atomic.
type workerStats struct {
	requests atomic.Int64
	errors   atomic.Int64
	kinds    [numKinds]int64
	status   map[int]int64
	discard  int64
	_        [64]byte // keep neighbours' hot counters off this cache line
}

// Run runs cfg until its duration passes or its request count is reached,
// or ctx is done.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Duration <= 0 {
		return nil, errors.New("loadgen: Duration must be > 0 (runs are bounded)")
	}
	if cfg.NewWorker == nil {
		return nil, errors.New("loadgen: NewWorker is required")
	}
	nw := max(cfg.Workers, 1)
	depth := max(cfg.Pipeline, 1)
	workers := make([]Worker, nw)
	for i := range workers {
		w, err := cfg.NewWorker(i)
		if err != nil {
			for _, w := range workers[:i] {
				w.Close()
			}
			return nil, fmt.Errorf("loadgen: worker %d: %w", i, err)
		}
		workers[i] = w
	}
	start := time.Now()
	end := start.Add(cfg.Duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	col := newCollector(nw, end)
	var remaining atomic.Int64
	remaining.Store(cfg.Requests)
	var pacer *Pacer
	if cfg.Rate > 0 {
		pacer = NewPacer(start, cfg.Rate)
	}

	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, h := col.worker(i)
			out := make([]Outcome, depth)
			intended := make([]time.Time, depth)
			var backoff time.Duration
			for ctx.Err() == nil && time.Now().Before(end) {
				n := depth
				if cfg.Requests > 0 {
					left := remaining.Add(-int64(n))
					if left < 0 {
						n += int(left)
					}
					if n <= 0 {
						return
					}
				}
				if pacer != nil {
					for j := 0; j < n; j++ {
						_, intended[j] = pacer.Next()
					}
					if intended[n-1].After(end) {
						return
					}
					if d := time.Until(intended[n-1]); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
							return
						}
					}
				} else {
					now := time.Now()
					for j := 0; j < n; j++ {
						intended[j] = now
					}
				}
				clear(out[:n])
				w.Do(ctx, out[:n])
				for j := range out[:n] {
					col.record(st, h, intended[j], &out[j], ctx.Err() != nil)
				}
				// A refused dial fails in microseconds: without a pause a
				// worker would count thousands a second and starve the
				// others of CPU. Back off 10 ms doubling to 1 s while dials
				// fail (open-loop requests due meanwhile still count from
				// their due time).
				var de *DialError
				if errors.As(out[0].Err, &de) {
					backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
					t := time.NewTimer(backoff)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
					}
				} else {
					backoff = 0
				}
			}
		}()
	}

	stopProgress := everySecond(cfg.Progress, func() Snapshot { return col.snapshot(time.Since(start), cfg.Dialer) })
	wg.Wait()
	elapsed := min(time.Since(start), cfg.Duration)
	stopProgress()
	for _, w := range workers {
		w.Close()
	}

	return col.result(elapsed, cfg.Dialer), nil
}

// collector gathers outcomes from many goroutines: per-worker counters
// (written by their worker only) and sharded histograms.
type collector struct {
	hists [histShards]Histogram
	stats []workerStats
	end   time.Time
}

func newCollector(workers int, end time.Time) *collector {
	c := &collector{stats: make([]workerStats, workers), end: end}
	for i := range c.stats {
		c.stats[i].status = map[int]int64{}
	}
	return c
}

// worker returns worker i's counters and histogram shard.
func (c *collector) worker(i int) (*workerStats, *Histogram) {
	return &c.stats[i], &c.hists[i%histShards]
}

// record counts one outcome of a request meant to start at intended.
// Outcomes past the end of the run, or failed because the run ended, are
// discarded: the run did not wait for them.
func (c *collector) record(st *workerStats, h *Histogram, intended time.Time, o *Outcome, ended bool) {
	if o.End.After(c.end) || (o.Err != nil && ended) {
		st.discard++
		return
	}
	if o.Err != nil {
		st.kinds[classify(o.Err)]++
		st.errors.Add(1)
		return
	}
	h.Record(o.End.Sub(intended))
	st.status[o.Status]++
	switch {
	case o.Status >= 500:
		st.kinds[kindStatus5xx]++
		st.errors.Add(1)
	case o.Status >= 400:
		st.kinds[kindStatus4xx]++
	}
	st.requests.Add(1)
}

func (c *collector) snapshot(elapsed time.Duration, d *CountingDialer) Snapshot {
	s := Snapshot{Elapsed: elapsed}
	for i := range c.stats {
		s.Requests += c.stats[i].requests.Load()
		s.Errors += c.stats[i].errors.Load()
	}
	if d != nil {
		s.Conns = d.Opened()
	}
	return s
}

// result assembles the Result once every worker has stopped.
func (c *collector) result(elapsed time.Duration, d *CountingDialer) *Result {
	r := &Result{Elapsed: elapsed, Errors: map[string]int64{}, Status: map[int]int64{}}
	for i := range c.hists {
		r.Latency.Merge(&c.hists[i])
	}
	for i := range c.stats {
		st := &c.stats[i]
		r.Requests += st.requests.Load()
		r.Discarded += st.discard
		for k, v := range st.kinds {
			if v != 0 {
				r.Errors[kindNames[k]] += v
			}
		}
		for code, v := range st.status {
			r.Status[code] += v
		}
	}
	if d != nil {
		d.Settle()
		r.ConnsOpened = d.Opened()
		r.DialsFailed = d.Failed()
	}
	if elapsed > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
	}
	if r.ConnsOpened > 0 {
		r.Reuse = float64(r.Requests) / float64(r.ConnsOpened)
	}
	return r
}

// Pacer hands out the intended send times of an open-loop schedule: ticket
// i is due at start + i/rate, whoever takes it and whenever. Safe for
// concurrent use; allocation-free.
type Pacer struct {
	start    time.Time
	interval float64 // ns between tickets
	next     atomic.Int64
}

// NewPacer paces rate tickets per second from start.
func NewPacer(start time.Time, rate float64) *Pacer {
	return &Pacer{start: start, interval: 1e9 / rate}
}

// Next takes the next ticket and returns its number and due time.
func (p *Pacer) Next() (int64, time.Time) {
	i := p.next.Add(1) - 1
	return i, p.start.Add(time.Duration(float64(i) * p.interval))
}

// everySecond calls progress with a fresh snapshot once a second until the
// returned stop is called; stop waits for the last call to end, so no
// progress line follows the caller's own output. A nil progress does
// nothing.
func everySecond(progress func(Snapshot), snap func() Snapshot) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				progress(snap())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}
