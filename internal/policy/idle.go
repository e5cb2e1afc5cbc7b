package policy

import (
	"math"
	"time"
)

// Defaults for IdleTimeout.
const (
	// DefaultIdleMax is the idle timeout under underload: the minute after
	// which, in Mogul's traces cited by the draft (§5, §11), most of the
	// benefit of a persistent connection has been collected.
	DefaultIdleMax = 60 * time.Second
	// DefaultIdleMin is the idle timeout at full pressure. A page and its
	// embedded objects should load over one connection (§5): a browser asks
	// for the next object within a few round trips, so a few seconds keep a
	// page load together even over a slow link. Going lower frees little:
	// the slots themselves are freed by LRU shedding at the limit (Admit),
	// and closing sooner trades idle memory for TIME_WAIT entries, slow
	// start and handshakes (§5).
	DefaultIdleMin = 5 * time.Second
	// DefaultMinWindow is how long a connection that has just finished a
	// response is kept in any case: one round trip plus the client's time
	// to parse the response and send the next request. Closing sooner
	// races that request (§7, §8) and forces the client to recover it,
	// which it may not safely do for a non-idempotent method.
	DefaultMinWindow = 2 * time.Second
)

// IdleTimeout is the adaptive idle timeout of the draft, §11: "On the
// server side, use a timeout that is adapted based on resource constraints:
// short timeout during overload, long timeout during underload."
//
// A zero field takes its default. Min is clamped to Max.
type IdleTimeout struct {
	// Max is the timeout at p = 0. Default DefaultIdleMax (60 s).
	Max time.Duration
	// Min is the timeout at p = 1. Default DefaultIdleMin (5 s).
	Min time.Duration
	// MinWindow is the least time an idle connection is kept after its
	// last response, whatever p says, and the least idle age of a shedding
	// victim (IdleList.Victim). It matters when Min is set below it, and
	// for shedding, which At does not govern. Default DefaultMinWindow (2 s).
	MinWindow time.Duration
}

// WithDefaults returns t with every zero field set to its default and Min
// clamped to Max: the values the methods use. Read MinWindow through it.
func (t IdleTimeout) WithDefaults() IdleTimeout {
	if t.Max <= 0 {
		t.Max = DefaultIdleMax
	}
	if t.Min <= 0 {
		t.Min = DefaultIdleMin
	}
	if t.Min > t.Max {
		t.Min = t.Max
	}
	if t.MinWindow <= 0 {
		t.MinWindow = DefaultMinWindow
	}
	return t
}

// clampP brings p into [0,1]. NaN counts as full pressure: when the load is
// unknown, err on the side of keeping the server alive.
func clampP(p float64) float64 {
	switch {
	case p > 0 && p <= 1:
		return p
	case p <= 0:
		return 0
	default: // > 1 or NaN
		return 1
	}
}

// At is the idle timeout at pressure p: Max at p = 0, falling linearly to
// Min at p = 1; p outside [0,1] is clamped. It is continuous and monotone
// non-increasing in p, so the idle timeout moves smoothly with load
// (see Ramp for why smoothness matters).
//
// Linear in p because p is already linear in each resource's use above its
// watermark: by Little's law the idle population is roughly the idle-arrival
// rate times the timeout, so the timeout, and with it the memory held by
// idle connections, shrinks in proportion to how far the binding resource
// is past its low watermark.
func (t IdleTimeout) At(p float64) time.Duration {
	t = t.WithDefaults()
	span := float64(t.Max - t.Min)
	// float64 multiplication by a non-negative constant and truncation are
	// both monotone, so At stays monotone to the nanosecond.
	return t.Max - time.Duration(span*clampP(p))
}

// Effective is the timeout actually enforced at pressure p: At(p), but
// never less than MinWindow. Use it as IdleList.Expired's timeout.
func (t IdleTimeout) Effective(p float64) time.Duration {
	t = t.WithDefaults()
	return max(t.At(p), t.MinWindow)
}

// Expired reports whether a connection idle for idleFor (since the end of
// its last response) should be closed at pressure p. A connection idle for
// less than MinWindow is never expired.
func (t IdleTimeout) Expired(idleFor time.Duration, p float64) bool {
	return idleFor >= t.Effective(p)
}

// KeepAliveSeconds is the N to advertise in "Keep-Alive: timeout=N" at
// pressure p: Effective(p) in whole seconds, rounded down so that a client
// honouring it closes before the server does (§7, §11: clients should close
// first). Under a second it is 0, which the writer leaves out: timeout=0
// reads as "do not reuse", and timeout=1 would invite the very race the
// hint is for (a client reusing a connection the server is closing).
//
// The hint is only as good as the moment it was sent: if p rises later the
// server's timeout shrinks below it, down to MinWindow, which no rise in
// pressure can undercut.
func (t IdleTimeout) KeepAliveSeconds(p float64) int {
	s := t.Effective(p) / time.Second
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}
