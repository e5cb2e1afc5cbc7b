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
	Dialer net.Dialer
	opened atomic.Int64
	failed atomic.Int64
}

// DialContext has net.Dialer's signature, for http.Transport.DialContext.
func (d *CountingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // the run ended: not the network's failure
		}
		d.failed.Add(1)
		return nil, &DialError{Err: err}
	}
	d.opened.Add(1)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return c, nil
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
