//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package evloop

import (
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/internal/netpoll"
	"golang.org/x/sys/unix"
)

type recorder struct {
	mu     sync.Mutex
	flags  uint32
	timers []int64
	ch     chan string
}

func (r *recorder) OnEvent(f uint32) {
	r.mu.Lock()
	r.flags |= f
	r.mu.Unlock()
	if f&netpoll.Readable != 0 {
		r.ch <- "readable"
	}
}

func (r *recorder) OnTimer(now int64) {
	r.mu.Lock()
	r.timers = append(r.timers, now)
	r.mu.Unlock()
	r.ch <- "timer"
}

func startLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- l.Run() }()
	t.Cleanup(func() {
		l.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return l
}

func next(t *testing.T, ch chan string, within time.Duration) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(within):
		t.Fatalf("nothing within %v", within)
		return ""
	}
}

func TestEventsReachHandler(t *testing.T) {
	l := startLoop(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	unix.SetNonblock(fds[0], true)
	r := &recorder{ch: make(chan string, 16)}
	if err := l.Add(fds[0], r); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 1 {
		t.Fatalf("Len = %d, want 1", l.Len())
	}
	unix.Write(fds[1], []byte("x"))
	if got := next(t, r.ch, time.Second); got != "readable" {
		t.Fatalf("got %q, want readable", got)
	}
	l.Remove(fds[0], true)
	unix.Close(fds[0])
	if l.Len() != 0 {
		t.Fatalf("Len = %d after Remove, want 0", l.Len())
	}
}

func TestTimerFiresAfterDeadlineAndCancelStopsIt(t *testing.T) {
	l := startLoop(t)
	r := &recorder{ch: make(chan string, 16)}
	var fire, cancelled Timer
	start := Now()
	l.Schedule(&fire, r, start+int64(300*time.Millisecond))
	l.Schedule(&cancelled, r, start+int64(200*time.Millisecond))
	l.Cancel(&cancelled)
	if cancelled.Armed() {
		t.Fatal("cancelled timer still armed")
	}
	next(t, r.ch, 2*time.Second)
	r.mu.Lock()
	at := r.timers[0]
	r.mu.Unlock()
	if at < start+int64(300*time.Millisecond) {
		t.Fatalf("timer fired %v early", time.Duration(start+int64(300*time.Millisecond)-at))
	}
	select {
	case s := <-r.ch:
		t.Fatalf("unexpected %s: the cancelled timer fired", s)
	case <-time.After(400 * time.Millisecond):
	}
}

func TestRescheduleMovesTimer(t *testing.T) {
	l := startLoop(t)
	r := &recorder{ch: make(chan string, 16)}
	var tm Timer
	start := Now()
	l.Schedule(&tm, r, start+int64(100*time.Millisecond))
	l.Schedule(&tm, r, start+int64(600*time.Millisecond))
	next(t, r.ch, 2*time.Second)
	r.mu.Lock()
	at, n := r.timers[0], len(r.timers)
	r.mu.Unlock()
	if n != 1 || at < start+int64(600*time.Millisecond) {
		t.Fatalf("fired %d times, first at +%v; want once after 600ms", n, time.Duration(at-start))
	}
}

func TestLongTimerWaitsOutRounds(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ch: make(chan string, 16)}
	var tm Timer
	now := Now()
	// Beyond one wheel turn: it shares a slot with nearer ticks but must not fire on them.
	l.Schedule(&tm, r, now+int64(wheelSlots+3)*int64(TickInterval))
	due := l.expire(now+int64(wheelSlots)*int64(TickInterval), nil)
	if len(due) != 0 {
		t.Fatalf("fired %d timers one round early", len(due))
	}
	due = l.expire(now+int64(wheelSlots+4)*int64(TickInterval), nil)
	if len(due) != 1 {
		t.Fatalf("fired %d timers, want 1", len(due))
	}
	l.poller.Close()
}

func TestSubmitRunsOnLoop(t *testing.T) {
	l := startLoop(t)
	done := make(chan struct{})
	l.Submit(func() { close(done) })
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("submitted task did not run")
	}
}
