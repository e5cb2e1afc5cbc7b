package policy

// Load is a snapshot of the resources that limit the server. The caller
// measures it (the package reads no clock, no /proc, no rlimit): Conns and
// MaxConns from its own accounting, MaxFDs from RLIMIT_NOFILE, MemBytes from
// runtime/metrics against a configured or cgroup-derived MemBudget.
//
// A limit of zero or less means "unknown or unlimited": that resource then
// contributes no pressure.
type Load struct {
	Conns, MaxConns int   // open connections vs the connection limit
	FDs, MaxFDs     int   // open descriptors vs RLIMIT_NOFILE
	MemBytes        int64 // process memory in use, in bytes
	MemBudget       int64 // memory the process may use, in bytes
	BusyWorkers     int   // handler goroutines running a request
	MaxWorkers      int   // size of the handler pool
	RunQueue        int   // requests read and waiting for a worker
	MaxRunQueue     int   // bound on RunQueue
	// SchedDelay is how long runnable goroutines recently waited for a CPU
	// (the runtime's scheduling latency, e.g. its 90th percentile over the
	// last tick); MaxSchedDelay is the delay that counts as full CPU
	// saturation. With goroutines as cheap as they are, a CPU-bound server
	// shows saturation here long before its worker pool fills.
	SchedDelay, MaxSchedDelay int64  // nanoseconds
	_                         [0]int // force keyed literals
}

// LowWatermark is the fraction of a limit below which a resource exerts no
// pressure. Below half of every limit the server can absorb a doubling of
// load before anything runs out, so holding idle connections costs nothing
// that matters and the idle timeout stays at its maximum (the draft, §11:
// "long timeout during underload").
const LowWatermark = 0.5

// Pressures is the per-resource breakdown of a Load, each in [0,1]. The
// status page shows it so an operator sees which resource binds.
type Pressures struct {
	Conns, FDs, Mem, Workers, RunQueue, CPU float64
}

// Pressures computes each resource's Ramp with LowWatermark.
func (l Load) Pressures() Pressures {
	return Pressures{
		Conns:    Ramp(int64(l.Conns), int64(l.MaxConns), LowWatermark),
		FDs:      Ramp(int64(l.FDs), int64(l.MaxFDs), LowWatermark),
		Mem:      Ramp(l.MemBytes, l.MemBudget, LowWatermark),
		Workers:  Ramp(int64(l.BusyWorkers), int64(l.MaxWorkers), LowWatermark),
		RunQueue: Ramp(int64(l.RunQueue), int64(l.MaxRunQueue), LowWatermark),
		CPU:      Ramp(l.SchedDelay, l.MaxSchedDelay, LowWatermark),
	}
}

// Max is the overall pressure: the largest per-resource value.
//
// The maximum, not a weighted mean: running out of any one resource stops
// service (no descriptor, no accept; no memory, no anything), however idle
// the others are, so the scarcest resource must drive the policy alone. A
// mean would let plentiful memory hide a descriptor table at its limit.
func (ps Pressures) Max() float64 {
	return max(ps.Conns, ps.FDs, ps.Mem, ps.Workers, ps.RunQueue, ps.CPU)
}

// Held is the pressure that sets the idle timeout: every resource but the
// CPU. Closing idle connections frees slots, descriptors and memory, and
// turns work away from busy handlers, but does not relieve a busy CPU: a
// client told to close comes back with a handshake, which costs more CPU
// than the request it saved. A CPU spike (the runtime's scheduling delay
// jumps for one tick when another process takes the core) would otherwise
// cut the idle timeout of every connection at once.
func (ps Pressures) Held() float64 {
	return max(ps.Conns, ps.FDs, ps.Mem, ps.Workers, ps.RunQueue)
}

// Saturation is the pressure of the resources that requests consume:
// handlers, their queue, the CPU, and memory (the draft, §11: "Memory, not CPU
// cycles, is likely to be the controlling resource"). Connection slots and
// descriptors are left out on purpose: slots held by idle keep-alive
// connections are not saturation; LRU shedding answers them when a newcomer
// needs a slot (see Admit). CloseGate and Clients read this value.
func (ps Pressures) Saturation() float64 {
	return max(ps.Mem, ps.Workers, ps.RunQueue, ps.CPU)
}

// Pressure is the server's pressure p in [0,1], the one signal the idle
// timeout, the Keep-Alive hint and the status page read: 0 while every
// resource is below LowWatermark of its limit, 1 when any is at its limit.
func Pressure(l Load) float64 { return l.Pressures().Max() }

// Saturation is l.Pressures().Saturation(): pressure from handlers, their
// queue and memory only.
func Saturation(l Load) float64 { return l.Pressures().Saturation() }

// Ramp maps used/limit to [0,1]: 0 up to the low watermark (a fraction of
// limit), rising linearly to 1 at the limit, 1 beyond. A limit <= 0 means
// unknown and gives 0. A low >= 1 makes the ramp a step at the limit.
//
// A ramp, not a step at a threshold: the idle timeout follows p, and a step
// would cut every idle connection's deadline at once when a threshold is
// crossed, closing a crowd of connections in one tick and inviting them all
// back together. A continuous p makes the timeout shrink as load grows.
func Ramp(used, limit int64, low float64) float64 {
	if limit <= 0 || used <= 0 {
		return 0
	}
	if used >= limit {
		return 1
	}
	u := float64(used) / float64(limit)
	if !(low < 1) { // also catches NaN
		return 0
	}
	if u <= low {
		return 0
	}
	return (u - low) / (1 - low)
}
