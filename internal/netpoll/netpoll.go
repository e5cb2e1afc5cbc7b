// Package netpoll is dally's readiness notifier: it tells an event loop which
// file descriptors became readable, writable or hung up.
//
// The contract, common to every mechanism:
//
//   - A descriptor is registered once, for reads, writes and peer hang-up,
//     edge-triggered: an event is reported when readiness rises, not while it
//     lasts. The owner therefore reads (or writes) until EAGAIN before it
//     waits again; in exchange no system call is needed to re-arm a
//     descriptor between requests, which keeps the keep-alive path cheap.
//   - Wait blocks until at least one event, a Wake, or the timeout.
//   - Wake may be called from any goroutine; a Wait in progress returns.
//
// One file per mechanism: epoll on Linux, kqueue on the BSDs and macOS, and
// an ErrUnsupported stub elsewhere.
package netpoll

import "errors"

// Event flags reported by Wait.
const (
	Readable uint32 = 1 << iota // data (or a FIN) can be read
	Writable                    // the send buffer has room
	HangUp                      // the peer shut down its write side, or the connection broke
	Failed                      // an error is pending on the socket
)

// Event is one readiness report.
type Event struct {
	Fd    int32
	Flags uint32
}

// ErrUnsupported is returned by New on systems without a mechanism.
var ErrUnsupported = errors.New("netpoll: no readiness mechanism on this system")
