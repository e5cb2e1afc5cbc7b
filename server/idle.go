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
func (l *idleList) expired(now int64, timeout time.Duration, into []*conn) []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(into) < maxSweepPerTick {
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
	if s.draining.Load() {
		timeout, reason = s.idlePolicy.MinWindow, reasonDrain
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
