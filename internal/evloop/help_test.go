//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package evloop

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helpRecorder notes whether each event came through Help.
type helpRecorder struct {
	l      *Loop
	events int
	helped int
}

func (r *helpRecorder) OnEvent(uint32) {
	r.events++
	if r.l.Helping() {
		r.helped++
	}
}
func (r *helpRecorder) OnTimer(int64) {}

// A loop whose goroutine does not turn (here: not running at all, as when
// busy goroutines hold every processor) has its readiness reported by
// Help, once HelpAfter has passed since its last turn, and not while
// someone else is in a turn.
func TestHelpRunsALateLoopsEvents(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.poller.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	unix.SetNonblock(fds[0], true)
	r := &helpRecorder{l: l}
	if err := l.Add(fds[0], r); err != nil {
		t.Fatal(err)
	}
	now := Now()
	l.lastTurn.Store(now)
	unix.Write(fds[1], []byte("x"))
	if l.Help(now + int64(HelpAfter)/2) {
		t.Fatal("Help ran a turn for a loop that turned less than HelpAfter ago")
	}
	l.turn.Lock()
	if l.Help(now + 2*int64(HelpAfter)) {
		t.Fatal("Help ran a turn while another was in progress")
	}
	l.turn.Unlock()
	if !l.Help(now + 2*int64(HelpAfter)) {
		t.Fatal("Help did not run a turn for a late loop")
	}
	if r.events != 1 || r.helped != 1 {
		t.Fatalf("events %d, of which helped %d; want 1, 1", r.events, r.helped)
	}
	if l.Helping() {
		t.Fatal("Helping still true after the turn")
	}
	// The turn counts: the next Help within HelpAfter does nothing.
	unix.Write(fds[1], []byte("y"))
	if l.Help(now + 2*int64(HelpAfter) + int64(time.Microsecond)) {
		t.Fatal("Help ran again right after a helped turn")
	}
}

// After Run returns, Help does nothing: the poller's descriptor is closed
// and its number may already belong to another poller.
func TestHelpAfterStop(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- l.Run() }()
	l.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Help(Now() + int64(time.Hour)) {
		t.Fatal("Help ran a turn on a stopped loop")
	}
}
