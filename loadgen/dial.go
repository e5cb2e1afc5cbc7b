package loadgen

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// CountingDialer dials TCP and counts the connections it opened: the
// honest connection count whatever the transport above it pools, retries
// or hides. Safe for concurrent use.
type CountingDialer struct {
	Dialer   net.Dialer
	opened   atomic.Int64
	failed   atomic.Int64
	inflight atomic.Int64
}

// DialContext has net.Dialer's signature, for http.Transport.DialContext.
//
// The dial itself is not cut short when ctx ends (only Dialer.Timeout,
// default 5 s, bounds it): a handshake the run's end interrupted may still
// have completed at the server, which would then count a connection the
// client did not. A connection established after ctx ended is counted,
// closed and reported as ctx's error.
func (d *CountingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dl := d.Dialer
	if dl.Timeout == 0 {
		dl.Timeout = defaultDialTimeout
	}
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	c, err := dl.DialContext(context.WithoutCancel(ctx), network, addr)
	if err != nil {
		d.failed.Add(1)
		return nil, &DialError{Err: err}
	}
	d.opened.Add(1)
	if err := ctx.Err(); err != nil {
		c.Close()
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return c, nil
}

// Settle waits, up to the dial timeout, for dials in flight: a pooling
// transport (net/http's) may have started one for a request that another
// connection then served, and the server counts it once it completes.
func (d *CountingDialer) Settle() {
	limit := d.Dialer.Timeout
	if limit == 0 {
		limit = defaultDialTimeout
	}
	for end := time.Now().Add(limit); d.inflight.Load() > 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
}

// Opened is the number of connections established so far.
func (d *CountingDialer) Opened() int64 { return d.opened.Load() }

// Failed is the number of dials that failed.
func (d *CountingDialer) Failed() int64 { return d.failed.Load() }

// DialError marks an error as the dial's, so that it is counted as one
// whatever wraps it later.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "dial: " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// defaultDialTimeout bounds a dial so that a SYN lost at a full backlog
// does not hold a worker for the kernel's minutes of retries.
const defaultDialTimeout = 5 * time.Second
