//go:build unix

package client

import "golang.org/x/sys/unix"

// peek is the raw read callback of (*conn).alive: a non-blocking one-byte
// MSG_PEEK. It never waits (returns true), so the runtime poller is not
// involved: one recvfrom per reuse.
func (c *conn) peek(fd uintptr) bool {
	c.peekN, _, c.peekErr = unix.Recvfrom(int(fd), c.peekB[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return true
}

// alive reports whether an idle connection may still carry a request: the
// socket has nothing to read. A FIN (read returns 0), an error (RST) or
// unsolicited bytes all end it: an idle HTTP/1.1 connection receives
// nothing but a close (RFC 9112 §9.6, a 408 sent before closing included).
func (c *conn) alive() bool {
	if c.rc == nil {
		return true
	}
	c.noDeadline() // an expired one would fail the peek
	if err := c.rc.Read(c.peekFn); err != nil {
		return false
	}
	return c.peekErr == unix.EAGAIN || c.peekErr == unix.EWOULDBLOCK
}
