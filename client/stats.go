package client

import "sync/atomic"

// closeReason says why the client closed a connection.
type closeReason uint8

const (
	closeIdleTimeout  closeReason = iota // the client's own IdleTimeout
	closeServerHint                      // before the server's Keep-Alive: timeout
	closeFIN                             // the server's FIN seen on an idle connection
	closeLearned                         // idle near the timeout learned from the server's FINs
	closeMax                             // Keep-Alive: max= reached
	closeServer                          // Connection: close, HTTP/1.0, close-delimited body
	closeKeepAliveOff                    // DisableKeepAlives
	closeIdleLimit                       // MaxIdleConnsPerHost
	closeUser                            // CloseIdleConnections, or a fresh connection needed room
	closeUnread                          // response body closed before its end
	closeCanceled                        // request context done during I/O
	closeError                           // I/O or protocol error
	numCloseReasons
)

var closeReasonNames = [numCloseReasons]string{
	"idle_timeout", "server_hint", "fin_seen", "learned_timeout", "max_requests", "server_close",
	"keepalives_disabled", "idle_limit", "user", "body_unread", "canceled", "error",
}

func (r closeReason) String() string { return closeReasonNames[r] }

// Stats is a snapshot of a Transport's counters, for metrics.
type Stats struct {
	ConnsOpened int64 // connections dialled successfully
	DialErrors  int64
	Requests    int64 // tries written to a connection (retries included)
	Reused      int64 // tries on a connection that had carried a request before
	Retries     int64 // tries repeated by shouldRetry
	Pipelined   int64 // tries written while an earlier response was outstanding
	// Closed counts closed connections by reason: idle_timeout, server_hint,
	// fin_seen, learned_timeout, max_requests, server_close, keepalives_disabled, idle_limit,
	// user, body_unread, canceled, error.
	Closed map[string]int64
	Open   int64 // connections open or being dialled now
	Idle   int64 // idle pooled connections now
}

type counters struct {
	opened, dialErrors, requests, reused, retries, pipelined atomic.Int64
	closed                                                   [numCloseReasons]atomic.Int64
	open, idle                                               atomic.Int64
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	c := &t.stats
	s := Stats{
		ConnsOpened: c.opened.Load(), DialErrors: c.dialErrors.Load(),
		Requests: c.requests.Load(), Reused: c.reused.Load(),
		Retries: c.retries.Load(), Pipelined: c.pipelined.Load(),
		Open: c.open.Load(), Idle: c.idle.Load(),
		Closed: make(map[string]int64, numCloseReasons),
	}
	for i := range c.closed {
		s.Closed[closeReasonNames[i]] = c.closed[i].Load()
	}
	return s
}
