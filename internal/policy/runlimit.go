package policy

import "time"

// RunLimit bounds how many connections run on handler goroutines at once,
// from the runtime's scheduling delay: the time runnable goroutines wait
// for a CPU. While the CPU keeps up, the bound stays out of the way (Max),
// so handlers that block (a database, a backend, a sleep) may be as many
// as the worker pool allows. Once runnable goroutines queue for the CPU,
// the order in which they run is the Go scheduler's, first come first
// served among hundreds of busy connections, and a polite client's one
// request waits behind every greedy connection's turn (the draft "HTTP
// Connection Management", §9, the capture effect). Lowering the bound
// moves that wait into the server's own run queue (Scheduler), where
// requests are taken one per connection per turn and clients by deficit
// round robin, so a newcomer waits for a few turns, not for all of them.
//
// The control is multiplicative both ways, like TCP's. A delay above
// High cuts the bound to what runs now times High/delay, at most 3/4 of
// it (not below Floor): a burst that put hundreds of busy goroutines in
// line is cut to size in one tick, not in ten. A delay under Low doubles
// the bound while connections wait for it (not above Max), so a bound cut
// by a burst of CPU work comes back within a few ticks once handlers block
// again; with none waiting it creeps back by a quarter per tick, so that a
// lull between bursts does not forget the last one at once. In between it
// holds. The zero value is not usable: set the fields and call Reset.
type RunLimit struct {
	Floor int           // the bound never goes below this (a few per CPU)
	Max   int           // the bound with no CPU pressure: the worker pool's size
	High  time.Duration // scheduling delay that lowers the bound
	Low   time.Duration // scheduling delay under which the bound rises

	limit int
}

// Reset puts the bound back at Max.
func (r *RunLimit) Reset() { r.limit = r.Max }

// Limit is the bound in force.
func (r *RunLimit) Limit() int { return r.limit }

// Update takes one tick's scheduling delay (a high percentile over the
// tick), the connections running now and whether any wait for the bound,
// and returns the new bound.
func (r *RunLimit) Update(delay time.Duration, running int, waiting bool) int {
	floor := min(max(r.Floor, 1), r.Max)
	switch {
	case delay > r.High:
		n := min(r.limit, running)
		r.limit = max(floor, min(n*3/4, int(int64(n)*int64(r.High)/int64(delay))))
	case delay < r.Low && r.limit < r.Max:
		if waiting {
			r.limit = min(r.Max, max(2*r.limit, floor))
		} else {
			r.limit = min(r.Max, max(r.limit+r.limit/4, r.limit+1, floor))
		}
	}
	return r.limit
}
