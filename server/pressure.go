package server

import (
	"math"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/internal/evloop"
	"github.com/dallyhttp/dally/internal/policy"
	"golang.org/x/sys/unix"
)

// pressure is the draft's load signal as the server sees it, refreshed on
// every tick of loop 0 and read lock-free on the request path.
type pressure struct {
	p           atomic.Uint64 // float64 bits: policy.Pressure
	sat         atomic.Uint64 // float64 bits: policy.Saturation
	idleTimeout atomic.Int64  // the idle timeout in force (ns)
	keepAlive   atomic.Int32  // its advertised value, whole seconds
	closing     atomic.Bool   // saturated: responses carry Connection: close
	greedy      atomic.Bool   // saturated, CPU included: greedy clients are paused
	completed   atomic.Int64  // requests finished, folded into drain

	mu        sync.Mutex       // guards the fields below
	gate      policy.CloseGate // on saturation of memory, workers and their queue
	cpuGate   policy.CloseGate // on saturation including the CPU: greedy control
	drain     policy.DrainRate
	folded    int64
	samples   []metrics.Sample
	maxFDs    int
	baseFDs   int
	memLimit  int64
	prevSched []uint64 // the scheduling-latency histogram at the last tick
	last      policy.Pressures
}

// maxSchedDelay is the scheduling delay (90th percentile over a tick) that
// counts as a saturated CPU: goroutines waiting 20 ms to run means requests
// queue behind each other, whatever the size of the worker pool.
const maxSchedDelay = 20 * time.Millisecond

// schedDelay is the 90th percentile of the runtime's scheduling latency
// since the previous call: the upper bound of the bucket it falls in.
func (pr *pressure) schedDelay(h *metrics.Float64Histogram) int64 {
	if h == nil {
		return 0
	}
	if len(pr.prevSched) != len(h.Counts) {
		pr.prevSched = append(pr.prevSched[:0], h.Counts...)
		return 0
	}
	var total uint64
	for i, c := range h.Counts {
		total += c - pr.prevSched[i]
	}
	var delay int64
	if total > 0 {
		want := total - total/10
		var seen uint64
		for i, c := range h.Counts {
			seen += c - pr.prevSched[i]
			if seen >= want {
				up := h.Buckets[i+1]
				if math.IsInf(up, 1) {
					up = h.Buckets[i]
				}
				delay = int64(up * 1e9)
				break
			}
		}
	}
	copy(pr.prevSched, h.Counts)
	return delay
}

func (s *Server) initPressure() {
	pr := &s.press
	pr.samples = []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/sched/latencies:seconds"},
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		pr.maxFDs = int(rl.Cur)
	}
	// Listeners, pollers, wake descriptors and the process's own files.
	pr.baseFDs = 16 + 2*len(s.loops)
	pr.memLimit = s.MemoryBudget
	if pr.memLimit == 0 {
		pr.memLimit = defaultMemoryBudget()
	}
	s.press.idleTimeout.Store(int64(s.idlePolicy.Max))
	s.press.keepAlive.Store(int32(s.idlePolicy.KeepAliveSeconds(0)))
}

// load is what the pressure signal is computed from.
func (s *Server) load() policy.Load {
	pr := &s.press
	_, busy, queued := s.pool.snapshot()
	metrics.Read(pr.samples)
	var mem int64
	if pr.samples[0].Value.Kind() == metrics.KindUint64 {
		mem = int64(pr.samples[0].Value.Uint64() - pr.samples[1].Value.Uint64())
	}
	var sched *metrics.Float64Histogram
	if pr.samples[2].Value.Kind() == metrics.KindFloat64Histogram {
		sched = pr.samples[2].Value.Float64Histogram()
	}
	open := int(s.stats.open.Load())
	return policy.Load{
		SchedDelay: pr.schedDelay(sched), MaxSchedDelay: int64(maxSchedDelay),
		Conns: open, MaxConns: s.MaxConns,
		FDs: open + pr.baseFDs, MaxFDs: pr.maxFDs,
		MemBytes: mem, MemBudget: pr.memLimit,
		BusyWorkers: busy, MaxWorkers: s.MaxWorkers,
		RunQueue: queued, MaxRunQueue: s.MaxWorkers,
	}
}

func (s *Server) updatePressure(now int64) {
	pr := &s.press
	pr.mu.Lock()
	defer pr.mu.Unlock()
	l := s.load()
	s.pool.adjust(time.Duration(l.SchedDelay))
	ps := l.Pressures()
	p, sat, held := ps.Max(), ps.Saturation(), ps.Held()
	pr.last = ps
	pr.p.Store(math.Float64bits(p))
	pr.sat.Store(math.Float64bits(sat))
	// The idle timeout follows every resource but the CPU (Pressures.Held).
	pr.idleTimeout.Store(int64(s.idlePolicy.Effective(held)))
	pr.keepAlive.Store(int32(s.idlePolicy.KeepAliveSeconds(held)))
	// Closing connections frees memory, workers and slots, but not CPU: a
	// client told to close comes back with a handshake, which costs more
	// CPU than the request it saved. So a busy CPU does not close
	// connections; it engages greedy-client control, which does relieve it.
	pr.closing.Store(pr.gate.CloseAfterResponse(max(ps.Mem, ps.Workers, ps.RunQueue)))
	pr.greedy.Store(pr.cpuGate.CloseAfterResponse(sat))
	done := pr.completed.Load()
	if d := done - pr.folded; d > 0 {
		pr.drain.Done(now, int(d))
		pr.folded = done
	}
}

// retryAfter estimates, in seconds, when a slot should be free: from how
// fast requests complete, for the backlog ahead of a newcomer.
func (s *Server) retryAfter() int {
	pr := &s.press
	_, busy, queued := s.pool.snapshot()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.drain.RetryAfter(evloop.Now(), queued+busy+1)
}

// PressureByResource is each resource's pressure in [0,1] at the last
// tick; Stats.Pressure is the largest of them.
type PressureByResource struct {
	Conns    float64 // open connections against MaxConns
	FDs      float64 // descriptors against RLIMIT_NOFILE
	Mem      float64 // process memory against MemoryBudget
	Workers  float64 // busy handler goroutines against MaxWorkers
	RunQueue float64 // connections waiting for a worker
	CPU      float64 // the runtime's scheduling delay (does not move the idle timeout)
}

func (s *Server) pressureByResource() PressureByResource {
	s.press.mu.Lock()
	ps := s.press.last
	s.press.mu.Unlock()
	return PressureByResource{Conns: ps.Conns, FDs: ps.FDs, Mem: ps.Mem, Workers: ps.Workers, RunQueue: ps.RunQueue, CPU: ps.CPU}
}

// Pressure returns the current pressure p in [0,1], the saturation (the
// part of p that handlers and memory make), and the idle timeout in force.
func (s *Server) Pressure() (p, saturation float64, idleTimeout time.Duration) {
	return math.Float64frombits(s.press.p.Load()), math.Float64frombits(s.press.sat.Load()),
		time.Duration(s.press.idleTimeout.Load())
}
