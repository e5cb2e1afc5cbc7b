package policy

import (
	"fmt"
	"math"
	"time"
)

// Decision is what the policy tells the server to do with a newcomer (Admit,
// Clients.Connect) or a request (Clients.Request). Counters counts them.
type Decision uint8

const (
	// Serve: go ahead.
	Serve Decision = iota
	// ShedIdle: close the idle connection IdleList.Victim chose, in stages,
	// then serve the newcomer in its slot (§5).
	ShedIdle
	// Pause: serve this request but stop reading the client for
	// Verdict.Wait, so that its TCP window closes (§9).
	Pause
	// Reject503: answer 503 with "Retry-After: Verdict.RetryAfter" and
	// close the connection in stages (§9).
	Reject503
	numDecisions
)

var decisionNames = [...]string{
	Serve:     "serve",
	ShedIdle:  "shed_idle",
	Pause:     "pause",
	Reject503: "reject_503",
}

// String is the decision's metric label, e.g. "shed_idle".
func (d Decision) String() string {
	if d < numDecisions {
		return decisionNames[d]
	}
	return fmt.Sprintf("Decision(%d)", uint8(d))
}

// Verdict is a Decision with its parameters.
type Verdict struct {
	Decision Decision
	// RetryAfter is the Retry-After value in seconds, in
	// [MinRetryAfter, MaxRetryAfter], set with Reject503.
	RetryAfter int
	// Wait is how long to stop reading the client, set with Pause.
	Wait time.Duration
}

// Bounds of every Retry-After the package computes, in seconds. Zero would
// invite an immediate retry and a storm; past two minutes an estimate is not
// worth trusting (load changes in seconds) and the client has likely given
// up anyway.
const (
	MinRetryAfter = 1
	MaxRetryAfter = 120
)

// RetryAfterSeconds rounds d up to whole seconds and clamps it to
// [MinRetryAfter, MaxRetryAfter].
func RetryAfterSeconds(d time.Duration) int {
	if d >= MaxRetryAfter*time.Second {
		return MaxRetryAfter
	}
	s := int((d + time.Second - 1) / time.Second)
	return max(s, MinRetryAfter)
}

// Admit decides on a newly accepted connection at the connection limit
// (§5): Serve while conns (open connections, the newcomer not counted) is
// under maxConns; at the limit, ShedIdle if an idle connection can give up
// its slot (haveVictim: IdleList.Victim returned one), else Reject503, with
// RetryAfter from DrainRate.RetryAfter. A maxConns <= 0 means no limit.
//
// Victim offers none when no connection is idle, and also when every idle
// one finished a response less than MinWindow ago: those are in use, and
// shedding one would race its client's next request (§7) only to have the
// client reconnect into the slot it lost.
//
// Check the client's own cap (Clients.Connect) first: a client at its cap
// must not cost another client its idle connection.
func Admit(conns, maxConns int, haveVictim bool) Decision {
	switch {
	case maxConns <= 0 || conns < maxConns:
		return Serve
	case haveVictim:
		return ShedIdle
	default:
		return Reject503
	}
}

// Defaults for DrainRate.
const (
	// DefaultDrainWindow is DrainRate's sampling window: long enough to hold
	// many completions on a busy server, short enough to follow a stall.
	DefaultDrainWindow = time.Second
	// DefaultDrainSmoothing is DrainRate's EWMA time constant: a sample's
	// weight falls by e each 10 s, about the horizon of a Retry-After.
	DefaultDrainSmoothing = 10 * time.Second
)

// DrainRate estimates how fast the server completes requests, as an
// exponentially weighted moving average of completions per second over
// fixed windows (the Unix load average's construction). Retry-After
// estimates read it.
//
// The zero value is ready to use with the defaults. Owned by one goroutine;
// a server with several loops keeps one per loop or feeds one under a lock.
type DrainRate struct {
	// Window is the sampling window. Default DefaultDrainWindow (1 s).
	Window time.Duration
	// Smoothing is the EWMA time constant: each Window, the estimate moves
	// by 1 - exp(-Window/Smoothing) towards the window's rate. Default
	// DefaultDrainSmoothing (10 s).
	Smoothing time.Duration

	start  int64   // current window's start
	count  int64   // completions in the current window
	rate   float64 // per second, valid once seeded
	begun  bool    // start is set
	seeded bool    // rate holds at least one full window
}

func (d *DrainRate) params() (window time.Duration, alpha float64) {
	window, smooth := d.Window, d.Smoothing
	if window <= 0 {
		window = DefaultDrainWindow
	}
	if smooth <= 0 {
		smooth = DefaultDrainSmoothing
	}
	return window, -math.Expm1(-float64(window) / float64(smooth))
}

// fold closes every window that ended by now. Empty windows count as zero
// completions, so a stalled server's rate decays towards zero.
func (d *DrainRate) fold(now int64) {
	if !d.begun {
		d.start, d.begun = now, true
		return
	}
	window, alpha := d.params()
	k := (now - d.start) / int64(window)
	if k <= 0 {
		return
	}
	sample := float64(d.count) / window.Seconds()
	if d.seeded {
		d.rate += alpha * (sample - d.rate)
	} else {
		d.rate, d.seeded = sample, true
	}
	if k > 1 {
		d.rate *= math.Pow(1-alpha, float64(k-1))
	}
	d.start += k * int64(window)
	d.count = 0
}

// Done records n completed requests at now.
func (d *DrainRate) Done(now int64, n int) {
	d.fold(now)
	d.count += int64(n)
}

// Rate is the estimate at now, in completions per second; ok is false until
// the first window has closed.
func (d *DrainRate) Rate(now int64) (perSecond float64, ok bool) {
	d.fold(now)
	return d.rate, d.seeded
}

// RetryAfter estimates, in seconds, when a request arriving now behind
// backlog others (the run queue, plus the requests in handlers if they
// must finish first) would be served: (backlog+1) / rate, rounded up and
// clamped to [MinRetryAfter, MaxRetryAfter].
//
// Before the first window closes there is no evidence, and it answers
// MinRetryAfter rather than turn a client away for long on a guess; a server
// that completes nothing gets MaxRetryAfter.
func (d *DrainRate) RetryAfter(now int64, backlog int) int {
	rate, ok := d.Rate(now)
	if !ok {
		return MinRetryAfter
	}
	wait := float64(max(backlog, 0)+1) / rate // +Inf when rate is 0
	if !(wait < MaxRetryAfter) {
		return MaxRetryAfter
	}
	return RetryAfterSeconds(time.Duration(wait * float64(time.Second)))
}
