package server

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func keepAliveTimeout(t *testing.T, resp *http.Response) int {
	t.Helper()
	ka := resp.Header.Get("Keep-Alive")
	v, ok := strings.CutPrefix(ka, "timeout=")
	if !ok {
		t.Fatalf("Keep-Alive %q", ka)
	}
	v, _, _ = strings.Cut(v, ",")
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("Keep-Alive %q", ka)
	}
	return n
}

// The draft, §11: the idle timeout adapts to load and is advertised, so it
// falls as connections fill the server and recovers when they leave.
func TestAdvertisedIdleTimeoutFollowsPressure(t *testing.T) {
	s, addr := startServer(t, &Server{MaxConns: 10, IdleTimeout: 60 * time.Second, IdleTimeoutMin: 5 * time.Second}, http.HandlerFunc(hello))
	probe := dial(t, addr)
	ask := func() int {
		probe.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := probe.response("GET")
		return keepAliveTimeout(t, resp)
	}
	if got := ask(); got != 60 {
		t.Fatalf("unloaded: timeout=%d, want 60", got)
	}
	var others []*wire
	for i := 0; i < 9; i++ {
		w := dial(t, addr)
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		w.response("GET")
		others = append(others, w)
	}
	// All ten slots are held: p = 1, the timeout is at its floor.
	waitFor(t, "pressure to rise", 2*time.Second, func() bool { p, _, _ := s.Pressure(); return p >= 0.99 })
	if got := ask(); got != 5 {
		t.Fatalf("at the connection limit: timeout=%d, want 5", got)
	}
	for _, w := range others {
		w.c.Close()
	}
	waitFor(t, "pressure to fall", 3*time.Second, func() bool { p, _, _ := s.Pressure(); return p == 0 })
	if got := ask(); got != 60 {
		t.Fatalf("after the load left: timeout=%d, want 60", got)
	}
}

// The draft, §9: while handlers are saturated, responses carry
// Connection: close so that load leaves at request boundaries.
func TestConnectionCloseWhileSaturated(t *testing.T) {
	release := make(chan struct{})
	s, addr := startServer(t, &Server{MaxWorkers: 2}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			<-release
		}
		hello(w, r)
	}))
	a, b := dial(t, addr), dial(t, addr)
	a.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	b.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "saturation", 2*time.Second, func() bool { return s.Stats().Saturated })
	close(release)
	ra, _ := a.response("GET")
	if !ra.Close {
		t.Fatal("a response written while saturated kept the connection")
	}
	a.wantClosed()
	b.response("GET")
	// Once the workers are free the gate opens again.
	waitFor(t, "saturation to end", 3*time.Second, func() bool { return !s.Stats().Saturated })
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if rc, _ := c.response("GET"); rc.Close {
		t.Fatal("still closing after saturation ended")
	}
	if s.Stats().Closed["saturated"] == 0 {
		t.Fatal("saturated closes not counted")
	}
}

// The draft, §9: a client over its fair share while the server is saturated
// is paused (not read), while another client keeps being served.
func TestGreedyClientIsPaused(t *testing.T) {
	if testing.Short() && raceEnabled {
		t.Skip("timing-sensitive under -race -short")
	}
	s, addr := startServer(t, &Server{MaxWorkers: 1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		hello(w, r)
	}))
	greedy := dial(t, addr)
	// A second client, from another loopback address, one request per
	// connection (a saturated server closes after each response anyway).
	politeReq := func() string {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		pc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skipf("cannot bind 127.0.0.2: %v", err)
		}
		defer pc.Close()
		polite := &wire{t: t, c: pc, br: newReader(pc)}
		polite.send("GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
		_, body := polite.response("GET")
		return body
	}

	var reqs strings.Builder
	for i := 0; i < 400; i++ {
		reqs.WriteString("GET /g HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	go greedy.c.Write([]byte(reqs.String()))
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Pauses == 0 && time.Now().Before(deadline) {
		if body := politeReq(); body != "hello /p" {
			t.Fatalf("polite client got %q", body)
		}
	}
	if s.Stats().Pauses == 0 {
		t.Fatalf("the greedy client was never paused: %+v", s.Stats())
	}
}

func TestPerClientConnectionCap(t *testing.T) {
	s, addr := startServer(t, &Server{MaxConnsPerClient: 2}, http.HandlerFunc(hello))
	a, b := dial(t, addr), dial(t, addr)
	for _, w := range []*wire{a, b} {
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		w.response("GET")
	}
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := c.response("GET")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection from one client: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	c.wantClosed()
	a.wantOpen()
	if s.Stats().Greedy503 != 1 {
		t.Fatalf("Greedy503 = %d", s.Stats().Greedy503)
	}
}
