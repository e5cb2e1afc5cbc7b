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
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/internal/netpoll"
)

// Handler receives a registered descriptor's events and its timer.
// Both methods run on the loop goroutine (OnEvent also on a goroutine that
// Helps the loop, never two at once) and must not block.
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
	// HelpAfter is how long a loop may go without a turn before a busy
	// goroutine that calls Help runs one for it (see Help).
	HelpAfter = 500 * time.Microsecond
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

	// turn is held while a goroutine handles a batch of events: the loop
	// goroutine, or one that Helps it. Handlers never run two at once.
	turn         sync.Mutex
	lastTurn     atomic.Int64    // loop clock when the last turn began
	helpEvents   []netpoll.Event // guarded by turn: Help's batch
	helpHandlers []Handler       // guarded by turn
	helping      bool            // guarded by turn: the turn is a Help
	closed       bool            // guarded by turn: Run has returned and closed the poller
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
	defer func() {
		// Under turn: a Help that comes later must not poll a closed
		// descriptor, whose number another poller may have by then.
		l.turn.Lock()
		l.closed = true
		l.poller.Close()
		l.turn.Unlock()
	}()
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
		l.turn.Lock()
		now := Now()
		l.lastTurn.Store(now)
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			l.turn.Unlock()
			return nil
		}
		l.handlersLocked(events[:n], handlers)
		due = l.expire(now, due[:0])
		tasks, l.tasks = l.tasks, tasks[:0]
		l.mu.Unlock()

		runEvents(events[:n], handlers)
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
		l.turn.Unlock()
	}
}

// handlersLocked looks up the handler of each event. Called with l.mu held.
func (l *Loop) handlersLocked(events []netpoll.Event, handlers []Handler) {
	for i, e := range events {
		fd := int(e.Fd)
		if fd < len(l.fds) {
			handlers[i] = l.fds[fd]
		} else {
			handlers[i] = nil
		}
	}
}

// runEvents reports each event to its handler. Handlers run without l.mu:
// they take their own locks and may call Schedule, Cancel or Remove.
func runEvents(events []netpoll.Event, handlers []Handler) {
	for i, e := range events {
		if h := handlers[i]; h != nil {
			h.OnEvent(e.Flags)
			handlers[i] = nil
		}
	}
}

// LastTurn is the loop clock when the loop's last turn (its own or a
// Help) began: for a handler that an event of that turn started, a time
// close to the event's without reading the clock again.
func (l *Loop) LastTurn() int64 { return l.lastTurn.Load() }

// Helping reports, to a handler's OnEvent, whether the turn reporting the
// event is a Help: it runs on a busy goroutine that is about to take more
// work itself, rather than on the loop goroutine.
func (l *Loop) Helping() bool { return l.helping }

// Help runs one turn of the loop's readiness reports on the caller's
// goroutine, if the loop has had no turn for HelpAfter and nobody else is
// in one, and reports whether it did. Timers, tasks and ticks stay with the
// loop goroutine.
//
// Goroutines that run handlers call it between requests. While they keep
// every processor busy, the loop goroutine is late, not by a little: the
// Go scheduler looks at its poller only when a processor has nothing else
// to run, or from its monitor every 10 ms, and then queues the loop
// goroutine globally, behind whole time slices of the busy ones. Accepts
// and new requests would wait tens of milliseconds for it, the capture
// effect by another road (the draft "HTTP Connection Management", §9).
func (l *Loop) Help(now int64) bool {
	if now-l.lastTurn.Load() < int64(HelpAfter) || !l.turn.TryLock() {
		return false
	}
	defer l.turn.Unlock()
	if l.closed {
		return false
	}
	l.lastTurn.Store(now)
	l.helping = true
	defer func() { l.helping = false }()
	if l.helpEvents == nil {
		l.helpEvents = make([]netpoll.Event, EventsPerTurn)
		l.helpHandlers = make([]Handler, EventsPerTurn)
	}
	n, err := l.poller.Poll(l.helpEvents)
	if err != nil || n == 0 {
		return err == nil
	}
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return true
	}
	l.handlersLocked(l.helpEvents[:n], l.helpHandlers)
	l.mu.Unlock()
	runEvents(l.helpEvents[:n], l.helpHandlers)
	if n == len(l.helpEvents) {
		l.poller.Wake() // more may wait: the loop goroutine takes the rest
	}
	return true
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
