package server

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dallyhttp/dally/internal/policy"
)

// idleList is the server's idle connections, least recently used first:
// policy.IdleList under a mutex (connections go idle on workers and are
// swept on loop 0). With one idle timeout in force at a time, it is also
// the idle timer queue.
type idleList struct {
	mu  sync.Mutex
	l   policy.IdleList[conn] // guarded by mu
	rng *rand.Rand            // guarded by mu; for ShedRandom
}

func (l *idleList) init() { l.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }

func (l *idleList) push(c *conn, now int64) {
	l.mu.Lock()
	l.l.PushMRU(&c.idle, now)
	l.mu.Unlock()
}

func (l *idleList) remove(c *conn) {
	l.mu.Lock()
	l.l.Remove(&c.idle)
	l.mu.Unlock()
}

// Len is the number of idle connections.
func (l *idleList) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l.Len()
}

// victim unlinks and returns the connection to shed for a newcomer, or nil
// when none has been idle for minIdle.
func (l *idleList) victim(how policy.ShedPolicy, now int64, minIdle time.Duration) *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.l.Victim(how, l.rng, now, minIdle)
	if n == nil {
		return nil
	}
	l.l.Remove(n)
	return n.Value
}

// maxSweepPerTick bounds how many idle connections one tick closes, so a
// mass expiry cannot stall the loop that sweeps.
const maxSweepPerTick = 4096

// expired unlinks up to maxSweepPerTick connections idle for timeout or more.
func (l *idleList) expired(now int64, timeout time.Duration, limit int, into []*conn) []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(into) < min(limit, maxSweepPerTick) {
		n := l.l.Expired(now, timeout)
		if n == nil {
			break
		}
		into = append(into, n.Value)
	}
	return into
}

// sweep runs on loop 0 every tick, and from Shutdown: it refreshes the
// pressure signal, then closes idle connections past the idle timeout in
// force (the minimum window while draining).
func (s *Server) sweep(now int64) {
	s.updatePressure(now)
	timeout := time.Duration(s.press.idleTimeout.Load())
	reason := reasonIdle
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	limit := maxSweepPerTick
	if s.draining.Load() {
		timeout, reason = s.idlePolicy.MinWindow, reasonDrain
		limit = s.drainQuota(now)
	}
	s.sweepBuf = s.idle.expired(now, timeout, limit, s.sweepBuf[:0])
	for i, c := range s.sweepBuf {
		if c.closeIfIdle(reason) && reason == reasonDrain {
			s.drain.closed++
		}
		s.sweepBuf[i] = nil
	}
	s.pool.reap(now)
}

// drainSpread paces the close of idle connections during Shutdown.
type drainSpread struct {
	start  int64 // loop clock when the drain began; 0 before
	total  int   // connections open then
	closed int   // idle connections the drain has closed since
}

// drainQuota is how many idle connections this sweep may close while
// draining: with DrainSpread set, the connections open when the drain
// began are closed at an even pace over that time, so their clients do
// not all reconnect (to the other replicas) in the same instant. Called
// with sweepMu held.
func (s *Server) drainQuota(now int64) int {
	d := &s.drain
	if d.start == 0 {
		d.start, d.total = now, int(s.stats.open.Load())
	}
	spread := int64(s.DrainSpread)
	elapsed := now - d.start
	if spread <= 0 || elapsed >= spread {
		return maxSweepPerTick
	}
	due := int((int64(d.total)*elapsed + spread - 1) / spread) // rounded up: the first tick closes one
	return max(due-d.closed, 0)
}
