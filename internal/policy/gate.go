package policy

// Defaults for CloseGate.
const (
	// DefaultCloseHigh is the saturation at which responses start carrying
	// "Connection: close": with the default ramps, 95% of workers busy, or
	// the run queue or memory 95% of the way to their bound.
	DefaultCloseHigh = 0.9
	// DefaultCloseLow is the saturation under which they stop again.
	DefaultCloseLow = 0.7
)

// CloseGate decides whether responses carry "Connection: close" because
// the server is saturated, so that a busy server sheds work at request
// boundaries, never mid-response (§9: the server must protect itself; §8:
// the close itself is staged by the caller).
//
// Feed it Saturation (handlers, their queue, memory), not Pressure: slots
// held by idle keep-alive connections are not saturation, and LRU shedding
// (Admit) frees them when a newcomer needs one.
//
// The gate has hysteresis: it opens at High and closes again only below
// Low. Closing connections relieves saturation only gradually (clients
// reconnect, requests already queued still run), so a single threshold would
// flap at every sample, and clients would see keep-alive granted and
// withdrawn on alternate responses.
//
// The zero value is ready to use with the defaults. Owned by one goroutine.
type CloseGate struct {
	// High is the saturation at or above which the gate engages. Default
	// DefaultCloseHigh (0.9).
	High float64
	// Low is the saturation below which it disengages; clamped to High.
	// Default DefaultCloseLow (0.7).
	Low float64

	closing bool
}

// CloseAfterResponse updates the gate with the current saturation and
// reports whether the response being written should end its connection.
// NaN counts as full saturation.
func (g *CloseGate) CloseAfterResponse(saturation float64) bool {
	high, low := g.High, g.Low
	if high <= 0 {
		high = DefaultCloseHigh
	}
	if low <= 0 {
		low = DefaultCloseLow
	}
	low = min(low, high)
	s := clampP(saturation)
	switch {
	case s >= high:
		g.closing = true
	case s < low:
		g.closing = false
	}
	return g.closing
}

// Closing reports the gate's state as of the last CloseAfterResponse, for
// the status page and for Clients.Request's saturated argument.
func (g *CloseGate) Closing() bool { return g.closing }
