//go:build unix

package client

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Phases of writeWait's callback (conn.wphase).
const (
	waitWrite    = iota // the head is not written yet
	waitRead            // written: the next call reads
	waitReadErr         // the read failed (c.preErr says how)
	waitFallback        // the write was short or would block: finish it the ordinary way
)

// writeWait writes a request head that expects an answer on an idle
// socket (nothing buffered, nothing pipelined) and reads the first bytes
// of that answer, with no read that can only say EAGAIN: the write is
// made from inside a raw read (syscall.RawConn.Read), whose callback then
// reports "not ready" without reading, so the runtime parks the goroutine
// on the poller until the socket is readable. Writing inside the callback
// matters: the raw read first clears the descriptor's readiness flag, so
// readiness from before the write could be lost (edge-triggered epoll
// says it once), but a response to this head can only arrive after it.
// A stale flag (an edge from earlier bytes, delivered late) ends the
// first wait at once: the read then says EAGAIN and the callback waits
// again.
//
// b may lie in the connection's buffer (writeHead makes the head there):
// it is written whole before anything is read into that buffer.
//
// The bytes read are in the buffer (c.w advanced); a failed read is left
// in c.preErr for the first fill. d > 0 arms the read deadline before the
// write (ResponseHeaderTimeout, armHead), from now when given (the clock
// read when the idle connection was taken, microseconds ago). It returns
// what a plain Write would.
func (c *conn) writeWait(b []byte, d time.Duration, now time.Time) (int, error) {
	c.getBuf()
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if d > 0 {
		if now.IsZero() {
			now = time.Now()
		}
		c.armHead(now, d)
		c.armed = true
	}
	c.wb, c.wphase, c.wn, c.werr = b, waitWrite, 0, nil
	err := c.rc.Read(c.waitFn)
	c.wb = nil
	switch c.wphase {
	case waitWrite: // the callback never ran: closed
		return 0, err
	case waitFallback:
		if c.werr != nil {
			return c.wn, c.opError("write", c.werr)
		}
		n, err := c.nc.Write(b[c.wn:])
		return c.wn + n, err
	case waitRead:
		if err != nil {
			c.preErr = err // the wait failed: the deadline, or a close
		}
	}
	return len(b), nil
}

// waitCB is writeWait's raw read callback (c.waitFn). Its writeNB and
// readNB are raw sendto and recvfrom on Linux, package syscall's Write and
// Read under the race detector (rawio_*.go).
func (c *conn) waitCB(fd uintptr) bool {
	switch c.wphase {
	case waitWrite:
		for {
			n, err := writeNB(int(fd), c.wb[c.wn:])
			if n > 0 {
				c.wn += n
			}
			if err == syscall.EINTR {
				continue
			}
			if err != nil && err != syscall.EAGAIN {
				c.werr = err
			}
			if err != nil || c.wn < len(c.wb) {
				c.wphase = waitFallback
				return true
			}
			c.wphase = waitRead
			// The answer cannot be here yet: wait for readability.
			return false
		}
	case waitRead:
		for {
			n, err := readNB(int(fd), (*c.buf)[c.w:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // a stale readiness flag: wait again
			case err != nil:
				c.preErr, c.wphase = c.opError("read", err), waitReadErr
			case n == 0:
				c.preErr, c.wphase = io.EOF, waitReadErr
			default:
				c.w += n
			}
			return true
		}
	}
	return true
}

// opError wraps a system call's error as net.Conn's methods do.
func (c *conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError(op, err)}
}
