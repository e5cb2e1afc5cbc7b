package netpoll

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A tick that a Poll sees stays for Wait: the loop's turn (its timers)
// must not be lost because a helper polled first. Deterministic: the
// timerfd is looked at directly.
func TestPollLeavesTheTickForWait(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	evs := make([]Event, 4)
	if n, err := p.Wait(evs, 10); err != nil || n != 0 { // arms the period, returns on the first tick
		t.Fatalf("Wait: %d events, %v", n, err)
	}
	time.Sleep(30 * time.Millisecond) // the next tick is due
	if n, err := p.Poll(evs); err != nil || n != 0 {
		t.Fatalf("Poll: %d events, %v (a tick is no event)", n, err)
	}
	raw := make([]unix.EpollEvent, 4)
	n, err := epollNow(p.epfd, raw)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, e := range raw[:n] {
		seen = seen || int(e.Fd) == p.timerfd
	}
	if !seen {
		t.Fatal("Poll consumed the tick: the loop's Wait would not see it")
	}
	// Wait takes it.
	if n, err := p.Wait(evs, 10); err != nil || n != 0 {
		t.Fatalf("Wait: %d events, %v", n, err)
	}
}
