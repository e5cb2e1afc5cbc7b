package server

import (
	"sync"
	"time"
)

// idleNode links a connection into the server's idle list.
type idleNode struct {
	prev, next *conn
	lastUse    int64 // loop clock when the connection last went idle
	inIdle     bool
}

// idleList orders idle connections by last use, least recent first. With
// one idle timeout in force at a time, the list is also the idle timer
// queue: the head expires first. It is the LRU the draft and
// Padmanabhan-Mogul recommend for shedding at the connection limit.
type idleList struct {
	mu   sync.Mutex
	head *conn // least recently used; guarded by mu
	tail *conn // most recently used; guarded by mu
	n    int   // guarded by mu
}

func (l *idleList) init() {}

func (l *idleList) push(c *conn, now int64) {
	l.mu.Lock()
	if c.inIdle {
		l.unlinkLocked(c)
	}
	c.lastUse = now
	c.inIdle = true
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
	l.mu.Unlock()
}

func (l *idleList) remove(c *conn) {
	l.mu.Lock()
	if c.inIdle {
		l.unlinkLocked(c)
	}
	l.mu.Unlock()
}

func (l *idleList) unlinkLocked(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next, c.inIdle = nil, nil, false
	l.n--
}

// Len is the number of idle connections.
func (l *idleList) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// oldest unlinks and returns the least recently used connection if it has
// been idle at least minWindow, else nil.
func (l *idleList) oldest(now int64, minWindow time.Duration) *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.head
	if c == nil || now-c.lastUse < int64(minWindow) {
		return nil
	}
	l.unlinkLocked(c)
	return c
}

// maxSweepPerTick bounds how many idle connections one tick closes, so a
// mass expiry cannot stall the loop that sweeps.
const maxSweepPerTick = 4096

// expired unlinks up to maxSweepPerTick connections idle for timeout or more.
func (l *idleList) expired(now int64, timeout time.Duration, into []*conn) []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.head != nil && len(into) < maxSweepPerTick && now-l.head.lastUse >= int64(timeout) {
		c := l.head
		l.unlinkLocked(c)
		into = append(into, c)
	}
	return into
}

// sweep closes idle connections past the idle timeout in force (the
// minimum window while draining). It runs on loop 0 every tick, and from
// Shutdown.
func (s *Server) sweep(now int64) {
	timeout := s.IdleTimeout
	reason := reasonIdle
	if s.draining.Load() {
		timeout, reason = s.MinIdleWindow, reasonDrain
	}
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	s.sweepBuf = s.idle.expired(now, timeout, s.sweepBuf[:0])
	for i, c := range s.sweepBuf {
		c.closeIfIdle(reason)
		s.sweepBuf[i] = nil
	}
	s.pool.reap(now)
}
