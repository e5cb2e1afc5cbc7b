// Package evloop runs dally's event loops: one goroutine per loop waits on a
// netpoll.Poller, turns readiness into calls on the registered handlers, and
// fires timers from a hashed timer wheel.
//
// A loop does no I/O of its own: handlers decide what a readiness report
// means (the server hands the connection to a worker). That keeps every
// turn of the loop short and bounded, so one slow connection cannot delay
// the readiness of the others.
package evloop

import (
	"errors"
	"sync"
	"time"

	"github.com/dallyhttp/dally/internal/netpoll"
)

// Handler receives a registered descriptor's events and its timer.
// Both methods run on the loop goroutine and must not block.
type Handler interface {
	// OnEvent reports readiness. Reports are hints: an event may arrive for
	// a descriptor number that was closed and reused since, so a handler
	// confirms (reads until EAGAIN or EOF) rather than trusts.
	OnEvent(flags uint32)
	// OnTimer reports that the handler's timer reached its deadline. A timer
	// cancelled or moved while the loop was firing may still report: the
	// handler checks its own deadline against now.
	OnTimer(now int64)
}

// Per-turn bounds, named so that they can be reasoned about.
const (
	// EventsPerTurn bounds how many readiness reports one Wait returns.
	// A larger batch amortizes the system call; a smaller one lets timers
	// and submitted work run sooner under a flood of events.
	EventsPerTurn = 256
	// TickInterval is the timer wheel's resolution. Every deadline the
	// server keeps (header, body, write, linger, idle) is a matter of
	// seconds, so 100 ms granularity costs nothing in precision and lets
	// an idle loop sleep.
	TickInterval = 100 * time.Millisecond
	// wheelSlots x TickInterval is the horizon of one wheel turn (51.2 s);
	// longer timers wait out whole rounds in their slot.
	wheelSlots = 512
)

var epoch = time.Now()

// Now is the loop clock: monotonic nanoseconds since the process started.
func Now() int64 { return int64(time.Since(epoch)) }

// Timer is an intrusive wheel entry; embed one per handler.
type Timer struct {
	// guarded by Loop.mu
	prev, next *Timer
	tick       int64 // absolute tick at which it fires
	h          Handler
	armed      bool
}

// Armed reports whether the timer is scheduled.
func (t *Timer) Armed() bool { return t.armed }

// Loop is one event loop.
type Loop struct {
	poller *netpoll.Poller // Immutable.

	// OnTick, when set before Run, is called on the loop goroutine once per
	// TickInterval with the loop clock (the server sweeps idle connections
	// here).
	OnTick func(now int64)

	mu      sync.Mutex
	fds     []Handler // guarded by mu; indexed by descriptor
	nfds    int       // guarded by mu
	slots   [wheelSlots]Timer
	curTick int64 // guarded by mu: every tick before this one has fired
	tasks   []func()
	stopped bool
}

// New creates a loop with its own poller.
func New() (*Loop, error) {
	p, err := netpoll.New()
	if err != nil {
		return nil, err
	}
	l := &Loop{poller: p, curTick: Now() / int64(TickInterval)}
	for i := range l.slots {
		s := &l.slots[i]
		s.prev, s.next = s, s
	}
	return l, nil
}

// ErrStopped is returned by Add after Stop.
var ErrStopped = errors.New("evloop: loop stopped")

// Add registers fd with h. fd must be non-blocking.
func (l *Loop) Add(fd int, h Handler) error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return ErrStopped
	}
	if fd >= len(l.fds) {
		n := 2 * len(l.fds)
		if n <= fd {
			n = fd + 64
		}
		fds := make([]Handler, n)
		copy(fds, l.fds)
		l.fds = fds
	}
	l.fds[fd] = h
	l.nfds++
	l.mu.Unlock()
	if err := l.poller.Add(fd); err != nil {
		l.forget(fd)
		return err
	}
	return nil
}

// Remove forgets fd before its owner closes it (or keeps it, with
// deregister, for a hijacked connection).
func (l *Loop) Remove(fd int, deregister bool) {
	if deregister {
		l.poller.Del(fd)
	}
	l.forget(fd)
}

func (l *Loop) forget(fd int) {
	l.mu.Lock()
	if fd < len(l.fds) && l.fds[fd] != nil {
		l.fds[fd] = nil
		l.nfds--
	}
	l.mu.Unlock()
}

// Len is the number of registered descriptors.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nfds
}

// Submit runs f on the loop goroutine at its next turn.
func (l *Loop) Submit(f func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, f)
	l.mu.Unlock()
	l.poller.Wake()
}

// Schedule arms t to call h.OnTimer at loop time at (or up to one tick
// later), replacing any earlier schedule of t.
func (l *Loop) Schedule(t *Timer, h Handler, at int64) {
	tick := (at + int64(TickInterval) - 1) / int64(TickInterval)
	l.mu.Lock()
	if t.armed {
		unlink(t)
	}
	if tick < l.curTick {
		tick = l.curTick
	}
	t.tick, t.h, t.armed = tick, h, true
	s := &l.slots[tick%wheelSlots]
	t.prev, t.next = s.prev, s
	s.prev.next = t
	s.prev = t
	l.mu.Unlock()
}

// Cancel disarms t.
func (l *Loop) Cancel(t *Timer) {
	l.mu.Lock()
	if t.armed {
		unlink(t)
	}
	l.mu.Unlock()
}

func unlink(t *Timer) {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.prev, t.next, t.armed = nil, nil, false
}

// Stop makes Run return at its next turn. Registered descriptors are left
// to their owners.
func (l *Loop) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.poller.Wake()
}

// Run is the loop; it returns after Stop, having closed the poller.
func (l *Loop) Run() error {
	defer l.poller.Close()
	events := make([]netpoll.Event, EventsPerTurn)
	var lastTick int64
	handlers := make([]Handler, EventsPerTurn)
	var due []Handler
	var tasks []func()
	for {
		n, err := l.poller.Wait(events, int(TickInterval/time.Millisecond))
		if err != nil {
			return err
		}
		now := Now()
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			return nil
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd < len(l.fds) {
				handlers[i] = l.fds[fd]
			} else {
				handlers[i] = nil
			}
		}
		due = l.expire(now, due[:0])
		tasks, l.tasks = l.tasks, tasks[:0]
		l.mu.Unlock()

		// Handlers run without l.mu: they take their own locks and may
		// call Schedule, Cancel or Remove.
		for i := 0; i < n; i++ {
			if h := handlers[i]; h != nil {
				h.OnEvent(events[i].Flags)
				handlers[i] = nil
			}
		}
		for i, h := range due {
			h.OnTimer(now)
			due[i] = nil
		}
		for i, f := range tasks {
			f()
			tasks[i] = nil
		}
		if l.OnTick != nil && now-lastTick >= int64(TickInterval) {
			lastTick = now
			l.OnTick(now)
		}
	}
}

// expire unlinks every timer due at now and appends its handler to due.
// Called with l.mu held.
func (l *Loop) expire(now int64, due []Handler) []Handler {
	target := now / int64(TickInterval)
	if target-l.curTick >= wheelSlots {
		// The loop slept through a whole turn: one pass over every slot.
		for i := range l.slots {
			due = l.fire(&l.slots[i], target, due)
		}
		l.curTick = target + 1
		return due
	}
	for ; l.curTick <= target; l.curTick++ {
		due = l.fire(&l.slots[l.curTick%wheelSlots], l.curTick, due)
	}
	return due
}

// fire unlinks the timers of slot s due by tick.
func (l *Loop) fire(s *Timer, tick int64, due []Handler) []Handler {
	for t := s.next; t != s; {
		next := t.next
		if t.tick <= tick {
			due = append(due, t.h)
			unlink(t)
			t.h = nil
		}
		t = next
	}
	return due
}
