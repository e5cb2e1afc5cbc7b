//go:build !unix

package client

import "time"

func (c *conn) peek(fd uintptr) bool   { return true }
func (c *conn) waitCB(fd uintptr) bool { return true }

// alive cannot look at the socket here: the retry predicate covers the race.
func (c *conn) alive() bool { return true }

// writeWait is a plain write here; the first read of the answer is fill's.
func (c *conn) writeWait(b []byte, d time.Duration, now time.Time) (int, error) {
	return c.nc.Write(b)
}
