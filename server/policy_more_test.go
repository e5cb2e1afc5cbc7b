package server

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The draft, §5: the victim at the limit is the least recently *used* idle
// connection, not the oldest accepted nor the newest. Three connections are
// used in the order a, b, c, then a and c again, so b is the LRU although it
// is neither first nor last accepted; after b goes, a is next.
func TestShedVictimIsLeastRecentlyUsedNotOldest(t *testing.T) {
	s, addr := startServer(t, &Server{MaxConns: 3, MinIdleWindow: time.Millisecond}, http.HandlerFunc(hello))
	get := func(w *wire, path string) {
		t.Helper()
		w.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := w.response("GET"); resp.StatusCode != 200 || body != "hello "+path {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
		}
		// The server marks the connection idle just after writing, so wait
		// for it: the next use must come after this one in the LRU order.
		waitFor(t, path+" idle", 2*time.Second, func() bool { return isIdle(s, w) })
	}
	a, b, c := dial(t, addr), dial(t, addr), dial(t, addr)
	get(a, "/a")
	get(b, "/b")
	get(c, "/c")
	get(a, "/a")
	get(c, "/c")
	time.Sleep(5 * time.Millisecond) // past MinIdleWindow

	d := dial(t, addr)
	get(d, "/d")
	b.wantClosed()
	a.wantOpen()
	c.wantOpen()

	// Now a (used before c and d) is the least recently used.
	time.Sleep(5 * time.Millisecond)
	e := dial(t, addr)
	get(e, "/e")
	a.wantClosed()
	c.wantOpen()
	d.wantOpen()
	// The survivors still work: shedding closed only its victims.
	get(c, "/c")
	get(d, "/d")

	st := s.Stats()
	if st.Closed["shed"] != 2 || st.Rejected503 != 0 || st.Open != 3 {
		t.Fatalf("shed %d, 503 %d, open %d; want 2, 0, 3", st.Closed["shed"], st.Rejected503, st.Open)
	}
}

// isIdle reports whether the server holds w's connection idle.
func isIdle(s *Server, w *wire) bool {
	for _, r := range s.ConnTable(0) {
		if r.Remote == w.c.LocalAddr().String() {
			return r.State == StateIdle
		}
	}
	return false
}

// An idle connection that answered a response less than MinIdleWindow ago
// is in use (its client is about to send again, §7), so it is not shed: with
// every other slot busy, the newcomer gets 503 and the recent one survives.
func TestRecentlyUsedIdleIsNotShed(t *testing.T) {
	release := make(chan struct{})
	s, addr := startServer(t, &Server{MaxConns: 2, MinIdleWindow: 10 * time.Second}, blockUntil(release))
	busy, recent := dial(t, addr), dial(t, addr)
	recent.send("GET /r HTTP/1.1\r\nHost: x\r\n\r\n")
	recent.response("GET")
	busy.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "one busy, one idle", 2*time.Second, func() bool {
		st := s.Stats()
		return st.BusyWorkers == 1 && st.Idle == 1
	})
	n := dial(t, addr)
	n.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := n.response("GET"); resp.StatusCode != 503 {
		t.Fatalf("newcomer: %d, want 503", resp.StatusCode)
	}
	n.wantClosed()
	recent.send("GET /r2 HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := recent.response("GET"); body != "hello /r2" {
		t.Fatalf("recent connection: %q", body)
	}
	close(release)
	if _, body := busy.response("GET"); body != "hello /block" {
		t.Fatalf("busy connection: %q", body)
	}
	if st := s.Stats(); st.Closed["shed"] != 0 || st.Rejected503 != 1 {
		t.Fatalf("shed %d, 503 %d; want 0, 1", st.Closed["shed"], st.Rejected503)
	}
}

// The draft, §9: with every slot busy the newcomer gets a complete 503
// (status, Retry-After in whole seconds within its bounds, Connection:
// close, a body as long as its Content-Length) and an orderly close; the
// busy connections are untouched and finish their responses, the refusal is
// counted, and once they finish a newcomer is served again.
func TestAllBusyNewcomerGets503ThenServedAfter(t *testing.T) {
	release := make(chan struct{})
	s, addr := startServer(t, &Server{MaxConns: 3, MinIdleWindow: 20 * time.Millisecond}, blockUntil(release))
	var busy []*wire
	for range 3 {
		w := dial(t, addr)
		w.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		busy = append(busy, w)
	}
	waitFor(t, "three busy", 2*time.Second, func() bool { return s.Stats().BusyWorkers == 3 })
	for i := range 2 {
		n := dial(t, addr)
		n.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		n.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		raw, err := io.ReadAll(n.br)
		if err != nil {
			t.Fatalf("newcomer %d: want 503 then FIN, got %v after %q", i, err, raw)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("newcomer %d: %v in %q", i, err, raw)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || int64(len(body)) != resp.ContentLength || len(body) == 0 {
			t.Fatalf("newcomer %d: body %q (%v), Content-Length %d", i, body, err, resp.ContentLength)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != 503 || !resp.Close || err != nil || ra < 1 || ra > 120 {
			t.Fatalf("newcomer %d: %d close=%v Retry-After=%q", i, resp.StatusCode, resp.Close, resp.Header.Get("Retry-After"))
		}
	}
	if st := s.Stats(); st.Rejected503 != 2 || st.Open != 3 || st.Closed["shed"] != 0 {
		t.Fatalf("503 %d, open %d, shed %d; want 2, 3, 0", st.Rejected503, st.Open, st.Closed["shed"])
	}
	close(release)
	for i, w := range busy {
		if resp, body := w.response("GET"); resp.StatusCode != 200 || body != "hello /block" {
			t.Fatalf("busy %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// The three are idle now; a newcomer displaces one instead of a 503.
	waitFor(t, "three idle", 2*time.Second, func() bool { return s.Stats().Idle == 3 })
	time.Sleep(30 * time.Millisecond) // past MinIdleWindow
	n := dial(t, addr)
	n.send("GET /n HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := n.response("GET"); resp.StatusCode != 200 || body != "hello /n" {
		t.Fatalf("newcomer after release: %d %q", resp.StatusCode, body)
	}
	if st := s.Stats(); st.Rejected503 != 2 || st.Closed["shed"] != 1 {
		t.Fatalf("503 %d, shed %d; want 2, 1", st.Rejected503, st.Closed["shed"])
	}
}

// The draft, §11: the advertised timeout is a continuous, monotone function
// of load, not a switch: it steps down through an intermediate value as the
// connection slots fill, and back up through it as they empty. With
// MaxConns 20, p is 0 up to 10 connections, 0.5 at 15 and 1 at 20, so
// Keep-Alive: timeout= goes 60, 32, 5 (60 - 55p, rounded down) and back.
func TestAdvertisedTimeoutStepsWithConnectionLoad(t *testing.T) {
	s, addr := startServer(t, &Server{MaxConns: 20, IdleTimeout: 60 * time.Second, IdleTimeoutMin: 5 * time.Second}, http.HandlerFunc(hello))
	probe := dial(t, addr)
	ask := func() int { t.Helper(); return advertised(t, probe) }
	var held []*wire
	// holdTo keeps n connections open in all, the probe included.
	holdTo := func(n int) {
		t.Helper()
		for len(held)+1 < n {
			w := dial(t, addr)
			w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			w.response("GET")
			held = append(held, w)
		}
		for len(held)+1 > n {
			held[len(held)-1].c.Close()
			held = held[:len(held)-1]
		}
		waitFor(t, "open count", 3*time.Second, func() bool { return s.Stats().Open == int64(n) })
	}
	steps := []struct {
		name  string
		conns int
		p     float64
		want  int
	}{
		{"idle", 1, 0, 60},
		{"half the slots", 10, 0, 60},
		{"three quarters", 15, 0.5, 32},
		{"full", 20, 1, 5},
		{"back to three quarters", 15, 0.5, 32},
		{"back to half", 10, 0, 60},
	}
	for _, st := range steps {
		holdTo(st.conns)
		waitFor(t, st.name+": pressure", 3*time.Second, func() bool {
			p, _, _ := s.Pressure()
			return p > st.p-0.01 && p < st.p+0.01
		})
		if got := ask(); got != st.want {
			t.Fatalf("%s (%d conns): timeout=%d, want %d", st.name, st.conns, got, st.want)
		}
	}
}

// The same signal from the handler side: busy workers raise p (saturation)
// and the advertised timeout falls with no connection slot in short supply;
// it recovers when the handlers return.
func TestAdvertisedTimeoutFallsWithBusyHandlers(t *testing.T) {
	release := make(chan struct{})
	s, addr := startServer(t, &Server{MaxWorkers: 4, IdleTimeout: 60 * time.Second, IdleTimeoutMin: 5 * time.Second}, blockUntil(release))
	probe := dial(t, addr)
	ask := func() int { t.Helper(); return advertised(t, probe) }
	if got := ask(); got != 60 {
		t.Fatalf("unloaded: timeout=%d, want 60", got)
	}
	var blocked []*wire
	for range 3 {
		w := dial(t, addr)
		w.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		blocked = append(blocked, w)
	}
	waitFor(t, "saturation", 3*time.Second, func() bool { _, sat, _ := s.Pressure(); return sat >= 0.49 })
	// 3 of 4 workers busy: p = 0.5 from workers, so 60 - 55/2 = 32 (the
	// probe's own request may make it 4 of 4 while it is handled: 5).
	if got := ask(); got >= 60 || got < 5 {
		t.Fatalf("three of four workers busy: timeout=%d, want below 60", got)
	}
	close(release)
	for _, w := range blocked {
		w.response("GET")
	}
	waitFor(t, "pressure to fall", 3*time.Second, func() bool { p, _, _ := s.Pressure(); return p == 0 })
	if got := ask(); got != 60 {
		t.Fatalf("after the handlers returned: timeout=%d, want 60", got)
	}
}

// blockUntil is hello, but GET /block waits for release to be closed.
func blockUntil(release chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			<-release
		}
		hello(w, r)
	})
}

// advertised sends one GET on probe and returns its Keep-Alive: timeout=.
func advertised(t *testing.T, probe *wire) int {
	t.Helper()
	probe.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := probe.response("GET")
	return keepAliveTimeout(t, resp)
}
