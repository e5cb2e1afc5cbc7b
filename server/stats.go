package server

import (
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/internal/evloop"
)

// closeReason says why a connection ended; closes are counted by reason.
type closeReason uint8

const (
	reasonNone        closeReason = iota // counted earlier, when the close began
	reasonPeer                           // the client closed or reset
	reasonIdle                           // idle timeout
	reasonShed                           // LRU shedding at the connection limit
	reasonMaxRequests                    // MaxRequestsPerConn reached
	reasonDrain                          // Shutdown or Close
	reasonClose                          // Connection: close, or HTTP/1.0 without keep-alive
	reasonBadRequest                     // malformed request answered 4xx/5xx
	reasonTimeout                        // header, body or write timeout
	reasonError                          // I/O error or handler failure
	reasonSaturated                      // Connection: close while the server is saturated
	reasonGreedy                         // a greedy client answered 503
	numReasons
)

var reasonNames = [numReasons]string{"none", "peer", "idle_timeout", "shed", "max_requests", "drain", "close", "bad_request", "timeout", "error", "saturated", "greedy"}

func (r closeReason) String() string { return reasonNames[r] }

type counters struct {
	accepted       atomic.Int64
	open           atomic.Int64
	requests       atomic.Int64
	rejected503    atomic.Int64
	acceptErrors   atomic.Int64
	badRequests    atomic.Int64
	headerTimeouts atomic.Int64
	partialHeads   atomic.Int64
	staged         atomic.Int64
	hijacked       atomic.Int64
	pauses         atomic.Int64
	greedy503      atomic.Int64
	savedFromClose atomic.Int64
	closed         [numReasons]atomic.Int64
	byState        [len(stateNames)]atomic.Int64 // connections in the table by state (see conn.setState)
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Accepted       int64              // connections accepted
	Open           int64              // connections open now
	Idle           int                // of which idle
	Requests       int64              // requests handed to the handler
	Rejected503    int64              // connections answered 503 at the limit
	AcceptErrors   int64              // temporary accept failures (EMFILE...)
	BadRequests    int64              // malformed requests answered with an error
	HeaderTimeouts int64              // heads too slow (408)
	StagedCloses   int64              // closes that went through the half-close and drain
	Closed         map[string]int64   // closes by reason
	Workers        int                // handler goroutines alive
	BusyWorkers    int                // of which running a connection
	Queued         int                // connections waiting for a worker
	RunLimit       int                // busy workers allowed now (below MaxWorkers while the CPU is saturated)
	Pauses         int64              // times a greedy client's connection was paused
	Greedy503      int64              // connections and requests refused as greedy (per-client cap or fair share)
	SavedFromClose int64              // idle connections about to be closed (timeout, shedding, drain) that had a request waiting, served instead
	Pressure       float64            // p in [0,1]: the scarcest resource
	ByResource     PressureByResource // p of each resource
	Saturation     float64            // the part of p from handlers, CPU and memory
	IdleTimeout    time.Duration      // the idle timeout in force
	KeepAlive      int                // the Keep-Alive: timeout= advertised, seconds
	Saturated      bool               // responses carry Connection: close
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Accepted:       s.stats.accepted.Load(),
		Open:           s.stats.open.Load(),
		Idle:           s.idle.Len(),
		Requests:       s.stats.requests.Load(),
		Rejected503:    s.stats.rejected503.Load(),
		AcceptErrors:   s.stats.acceptErrors.Load(),
		BadRequests:    s.stats.badRequests.Load(),
		HeaderTimeouts: s.stats.headerTimeouts.Load(),
		StagedCloses:   s.stats.staged.Load(),
		Closed:         map[string]int64{},
	}
	for r := reasonPeer; r < numReasons; r++ {
		st.Closed[r.String()] = s.stats.closed[r].Load()
	}
	st.Workers, st.BusyWorkers, st.Queued = s.pool.snapshot()
	st.RunLimit = s.pool.runLimit()
	st.Pauses = s.stats.pauses.Load()
	st.Greedy503 = s.stats.greedy503.Load()
	st.SavedFromClose = s.stats.savedFromClose.Load()
	st.Pressure, st.Saturation, st.IdleTimeout = s.Pressure()
	st.ByResource = s.pressureByResource()
	st.KeepAlive = int(s.press.keepAlive.Load())
	st.Saturated = s.press.closing.Load()
	return st
}

// ConnSnapshot is one row of the connection table.
type ConnSnapshot struct {
	ID       uint64
	Remote   string
	State    State
	Age      time.Duration // since accept
	Idle     time.Duration // since the connection last went idle (0 unless idle)
	Requests int           // requests started on it
}

// ConnTable returns up to max connections (all when max <= 0), for status
// pages. It takes the server's table lock briefly and each connection's
// lock in turn.
func (s *Server) ConnTable(max int) []ConnSnapshot {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		if max > 0 && len(conns) >= max {
			break
		}
		conns = append(conns, c)
	}
	s.mu.Unlock()
	now := evloop.Now()
	out := make([]ConnSnapshot, 0, len(conns))
	for _, c := range conns {
		c.mu.Lock()
		st := c.state
		c.mu.Unlock()
		row := ConnSnapshot{
			ID: c.id, Remote: c.remote.String(), State: st,
			Age: time.Duration(now - c.created), Requests: int(c.served.Load()),
		}
		if st == StateIdle {
			s.idle.mu.Lock()
			row.Idle = time.Duration(now - c.idle.LastUse)
			s.idle.mu.Unlock()
		}
		out = append(out, row)
	}
	return out
}

// ConnsByState counts open connections by state, from counts kept at
// every change of state: it walks no table, so a status page or a scrape
// costs the same at a million connections as at ten.
func (s *Server) ConnsByState() map[State]int {
	m := map[State]int{}
	for st := range s.stats.byState {
		if n := s.stats.byState[st].Load(); n > 0 {
			m[State(st)] = int(n)
		}
	}
	return m
}
