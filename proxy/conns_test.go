package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoUpstreamConnCarriesTwoClients: 8 client connections send 10
// requests each at once; the upstream holds every answer 5 ms and records,
// per connection, the client of each request and any byte of a next
// request that arrived before the current one was answered.
func TestNoUpstreamConnCarriesTwoClients(t *testing.T) {
	m := newMock(t, ok("x"))
	m.delay = 5 * time.Millisecond
	addr := startProxy(t, reverse(t, m.url()))
	const clients, each = 8, 10
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		w := dial(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				fmt.Fprintf(w.c, "GET /%d HTTP/1.1\r\nHost: x\r\nX-Client: c%d\r\n\r\n", j, i)
				w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				resp, err := http.ReadResponse(w.br, nil)
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
			}
		}()
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.violations) > 0 {
		t.Fatalf("an upstream connection carried two requests at once: %v", m.violations)
	}
	served, shared := 0, 0
	for _, reqs := range m.perConn {
		served += len(reqs)
		seen := map[string]bool{}
		for _, c := range reqs {
			seen[c] = true
		}
		if len(seen) > 1 {
			shared++ // serial reuse by another client: allowed
		}
	}
	if served != clients*each {
		t.Fatalf("upstream served %d requests, want %d", served, clients*each)
	}
	if m.maxOpen > 2*clients {
		t.Fatalf("%d upstream connections at once for %d clients", m.maxOpen, clients)
	}
	t.Logf("%d upstream connections (at most %d at once) for %d clients; %d reused serially by several clients",
		len(m.perConn), m.maxOpen, clients, shared)
}

// TestAtMost2N: 10 clients fill the pool; when 9 leave, the proxy closes
// idle upstream connections down to 2N = 2 without waiting for the idle
// timeout, and then serves the remaining client within that bound.
func TestAtMost2N(t *testing.T) {
	m := newMock(t, ok("x"))
	m.delay = 20 * time.Millisecond
	p := reverse(t, m.url())
	p.IdleConnTimeout = time.Minute
	addr := startProxy(t, p)
	const n = 10
	ws := make([]*wire, n)
	for i := range ws {
		ws[i] = dial(t, addr)
	}
	waitFor(t, "client connections counted", func() bool { return p.Stats().ClientConns == n })
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if resp, err := http.ReadResponse(w.br, nil); err != nil {
					t.Error(err)
				} else {
					io.Copy(io.Discard, resp.Body)
				}
			}()
		}
		wg.Wait()
	}
	open, maxOpen, _ := m.stats()
	if maxOpen > 2*n {
		t.Fatalf("%d upstream connections at once for %d clients", maxOpen, n)
	}
	if open < 2 {
		t.Fatalf("only %d upstream connections left idle: the test proves nothing", open)
	}
	for _, w := range ws[1:] {
		w.c.Close()
	}
	waitFor(t, "idle upstream connections closed down to 2N", func() bool {
		open, _, _ := m.stats()
		return open <= 2 && p.Stats().UpstreamConns <= 2
	})
	// The bound holds from here on: one client, serial and a burst.
	m.mu.Lock()
	m.maxOpen = m.open
	m.mu.Unlock()
	w := ws[0]
	for i := 0; i < 5; i++ {
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := w.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if _, maxOpen, _ := m.stats(); maxOpen > 2 {
		t.Fatalf("%d upstream connections at once for 1 client", maxOpen)
	}
}

// TestGateWaitsAtLimit: with the hook counting one client connection and
// two upstream connections busy (held by tunnels of requests in flight is
// not possible over one client, so the test dials through the gate
// itself), a third dial waits until a slot frees.
func TestGateWaitsAtLimit(t *testing.T) {
	m := newMock(t, ok("x"))
	p := reverse(t, m.url())
	p.init()
	p.gate.clients(+1) // N = 1: limit 2
	d := &net.Dialer{}
	ctx := t.Context()
	c1, err := p.gate.dial(ctx, d, "tcp", m.addr())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := p.gate.dial(ctx, d, "tcp", m.addr())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan net.Conn, 1)
	go func() {
		c, err := p.gate.dial(ctx, d, "tcp", m.addr())
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	select {
	case <-got:
		t.Fatal("a third upstream connection for one client")
	case <-time.After(100 * time.Millisecond):
	}
	c1.Close()
	select {
	case c3 := <-got:
		c3.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting dial did not get the freed slot")
	}
	c2.Close()
	if s := p.Stats(); s.UpstreamConns != 0 {
		t.Fatalf("slots not given back: %+v", s)
	}
}

// TestSlowReaderSlowsOnlyItself: client A requests a large body and does
// not read it; client B's requests to the same upstream go on meanwhile,
// each on an upstream connection of its own.
func TestSlowReaderSlowsOnlyItself(t *testing.T) {
	big := strings.Repeat("z", 8<<20)
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, req *http.Request, _ string) {
		if req.URL.Path == "/big" {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(big))
			io.WriteString(c, big) // blocks once A's windows are full
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
	})
	addr := startProxy(t, reverse(t, m.url()))
	a := dial(t, addr)
	a.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	a.head() // A reads the head, then nothing
	b := dial(t, addr)
	for i := 0; i < 20; i++ {
		start := time.Now()
		b.send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := b.response("GET"); body != "b" {
			t.Fatalf("B got %q", body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("B waited %v behind A", d)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.violations) > 0 {
		t.Fatal(m.violations)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUploadBackpressure: while the upstream does not read, the client's
// upload stalls after what the socket buffers hold: the proxy streams the
// body with a fixed buffer, it does not take it all in.
func TestUploadBackpressure(t *testing.T) {
	// 32 MiB: more than the socket buffers on the path hold (~8 MiB here),
	// whose sum the kernel caps well below 16 MiB on loopback.
	const total = 32 << 20
	release := make(chan struct{})
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, req *http.Request, _ string) {
		<-release
		n, _ := io.Copy(io.Discard, req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d", len(fmt.Sprint(n)), n)
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	var sent atomic.Int64
	go func() {
		fmt.Fprintf(w.c, "PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", total)
		buf := make([]byte, 64<<10)
		for sent.Load() < total {
			n, err := w.c.Write(buf)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	stalled := sent.Load()
	time.Sleep(100 * time.Millisecond)
	if s := sent.Load(); s != stalled || s > total/2 {
		t.Fatalf("upload not held back: %d then %d bytes sent of %d while the upstream read nothing", stalled, s, total)
	}
	t.Logf("the upload stalled at %d KiB of %d MiB", stalled>>10, total>>20)
	close(release)
	start := time.Now()
	w.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		t.Fatalf("after %v: %v (sent %d)", time.Since(start), err, sent.Load())
	}
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if resp.StatusCode != 200 || body != fmt.Sprint(total) {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

// TestIdleUpstreamClosedFirst: an upstream that says Keep-Alive: timeout=1
// sees the proxy close the idle connection before that second is over, so
// the proxy never sends a request into the upstream's close.
func TestIdleUpstreamClosedFirst(t *testing.T) {
	closedBy := make(chan time.Duration, 1)
	m := newMock(t, func(c net.Conn, br *bufio.Reader, _ *http.Request, _ string) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 1\r\n\r\nx")
		start := time.Now()
		c.SetReadDeadline(start.Add(3 * time.Second))
		if _, err := br.Peek(1); err == io.EOF {
			closedBy <- time.Since(start)
		} else {
			closedBy <- -1
		}
		c.SetReadDeadline(time.Time{})
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := w.response("GET"); body != "x" {
		t.Fatalf("body %q", body)
	}
	d := <-closedBy
	if d < 0 || d >= time.Second {
		t.Fatalf("the proxy did not close the idle upstream connection within its 1 s timeout (%v)", d)
	}
	t.Logf("closed by the proxy after %v", d)
}

// TestUpstreamCloseSeenBeforePOST: the upstream answers each request and
// then closes its connection, with no Connection: close (as when its idle
// timer fires). The proxy's next request is a POST, which cannot be
// retried: the transport must see the FIN (the peek needs the gated
// connection's socket) and take a new connection, so the POST is never
// written on the dead one, succeeds, and reaches the upstream once.
func TestUpstreamCloseSeenBeforePOST(t *testing.T) {
	var posts atomic.Int64
	m := newMock(t, func(c net.Conn, br *bufio.Reader, req *http.Request, _ string) {
		if req.Method == "POST" {
			posts.Add(1)
			io.Copy(io.Discard, req.Body)
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := w.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	waitFor(t, "upstream close", func() bool { open, _, _ := m.stats(); return open == 0 })
	time.Sleep(5 * time.Millisecond) // the FIN crosses loopback
	w.send("POST /once HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
	if resp, body := w.response("POST"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("upstream saw %d POSTs, want 1", n)
	}
	if _, _, total := m.stats(); total != 2 {
		t.Fatalf("%d upstream connections, want 2", total)
	}
}
