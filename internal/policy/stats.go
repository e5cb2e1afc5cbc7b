package policy

import "fmt"

// CloseReason says why the server closed a connection; Counters counts
// them (metric dally_server_connections_closed_total{reason=...}).
type CloseReason uint8

const (
	// CloseUnknown is the zero value: a close nobody labelled, a bug.
	CloseUnknown CloseReason = iota
	// CloseIdleTimeout: idle past IdleTimeout.Effective (§11).
	CloseIdleTimeout
	// CloseShed: an idle connection gave its slot to a newcomer (Admit,
	// ShedIdle; §5).
	CloseShed
	// ClosePeer: the client closed first (FIN or reset), as the draft
	// prefers (§7).
	ClosePeer
	// CloseRequested: the request asked for it ("Connection: close", or
	// HTTP/1.0 without keep-alive).
	CloseRequested
	// CloseMaxRequests: the connection served its maximum of requests.
	CloseMaxRequests
	// CloseSaturated: "Connection: close" sent because the server was
	// saturated (CloseGate).
	CloseSaturated
	// CloseReject: answered 503 at admission, at the per-client cap or for
	// greed (§9).
	CloseReject
	// CloseBadRequest: malformed or ambiguous input, answered 4xx/5xx.
	CloseBadRequest
	// CloseTimeout: a header, body or write deadline or a minimum rate was
	// missed.
	CloseTimeout
	// CloseDrain: the server is shutting down gracefully.
	CloseDrain
	// CloseError: an I/O error.
	CloseError
	numCloseReasons
)

var closeReasonNames = [...]string{
	CloseUnknown:     "unknown",
	CloseIdleTimeout: "idle_timeout",
	CloseShed:        "shed",
	ClosePeer:        "peer",
	CloseRequested:   "requested",
	CloseMaxRequests: "max_requests",
	CloseSaturated:   "saturated",
	CloseReject:      "reject_503",
	CloseBadRequest:  "bad_request",
	CloseTimeout:     "timeout",
	CloseDrain:       "drain",
	CloseError:       "error",
}

// String is the reason's metric label, e.g. "idle_timeout".
func (r CloseReason) String() string {
	if r < numCloseReasons {
		return closeReasonNames[r]
	}
	return fmt.Sprintf("CloseReason(%d)", uint8(r))
}

// Counters counts closes by reason and decisions by kind. Index the
// arrays by CloseReason and Decision; range over them with
// `for r := range CloseReason(len(c.Closes))`.
//
// Owned by one goroutine (a loop keeps its own and the server sums them
// with Add for Stats snapshots).
type Counters struct {
	Closes    [numCloseReasons]uint64
	Decisions [numDecisions]uint64
}

// Close counts a close for reason r; an out-of-range reason counts as
// CloseUnknown.
func (c *Counters) Close(r CloseReason) {
	if r >= numCloseReasons {
		r = CloseUnknown
	}
	c.Closes[r]++
}

// Decide counts a decision; out-of-range values are ignored.
func (c *Counters) Decide(d Decision) {
	if d < numDecisions {
		c.Decisions[d]++
	}
}

// Add adds o's counts to c.
func (c *Counters) Add(o *Counters) {
	for i := range c.Closes {
		c.Closes[i] += o.Closes[i]
	}
	for i := range c.Decisions {
		c.Decisions[i] += o.Decisions[i]
	}
}
