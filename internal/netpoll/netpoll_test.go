//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package netpoll

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true)
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// waitFor collects events for fd until want is seen or a second passes.
func waitFor(t *testing.T, p *Poller, fd int, want uint32) uint32 {
	t.Helper()
	evs := make([]Event, 8)
	deadline := time.Now().Add(time.Second)
	var got uint32
	for time.Now().Before(deadline) {
		n, err := p.Wait(evs, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs[:n] {
			if int(e.Fd) == fd {
				got |= e.Flags
			}
		}
		if got&want == want {
			return got
		}
	}
	t.Fatalf("fd %d: got flags %b, want %b", fd, got, want)
	return got
}

func TestEdgeTriggeredReadWriteHangUp(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, b := socketPair(t)
	if err := p.Add(a); err != nil {
		t.Fatal(err)
	}
	// A fresh socket is writable: the first Wait says so.
	waitFor(t, p, a, Writable)

	// Data arriving raises Readable once.
	unix.Write(b, []byte("hello"))
	waitFor(t, p, a, Readable)

	// Edge-triggered: with the data still unread, no new event comes.
	evs := make([]Event, 8)
	n, _ := p.Wait(evs, 50)
	for _, e := range evs[:n] {
		if int(e.Fd) == a && e.Flags&Readable != 0 {
			t.Fatalf("readable reported twice for one arrival")
		}
	}

	// The peer's shutdown of its write side is reported as HangUp.
	unix.Shutdown(b, unix.SHUT_WR)
	waitFor(t, p, a, HangUp)
}

func TestWakeInterruptsWait(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.Wake()
	}()
	start := time.Now()
	n, err := p.Wait(make([]Event, 4), 5000)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("wake reported %d events, want 0", n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Wait returned after %v, wake did not interrupt it", d)
	}
}
