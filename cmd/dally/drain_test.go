package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// retryable says a request failed before any byte of a response arrived,
// on a connection the server closed (or refused, or reset) before it read
// the request: the case RFC 9112 §9.3.1 lets a client retry for an
// idempotent request. A response cut short is not in this set.
func retryable(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "server closed idle connection")
}

type drainCounts struct {
	ok, retried, failed, truncated, closeResp, delayed atomic.Int64
	raced                                              atomic.Int64 // raw clients: closed with no response byte, retried
	firstErr                                           atomic.Value
}

// countingReader counts the bytes a raw client has received.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

// raw is a keep-alive client on raw sockets, one request at a time, with a
// pause between requests. It knows exactly how many bytes of a response
// it got: a connection that ends with none (EOF or reset) was closed
// before the server read the request, and only then is the GET retried,
// on a new connection. Anything else short of a whole response is a
// failure.
func (c *drainCounts) raw(id int, addr string, stop <-chan struct{}, pause func() time.Duration) {
	var conn net.Conn
	var cr *countingReader
	var br *bufio.Reader
	drop := func() {
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	defer drop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		want := 1000 + id*997 + i%7*3001
		path := fmt.Sprintf("/bytes/%d", want)
		done := false
		for try := 0; try < 5 && !done; try++ {
			if conn == nil {
				var err error
				if conn, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
					conn = nil
					c.retried.Add(1) // refused: nothing was sent
					time.Sleep(10 * time.Millisecond)
					continue
				}
				cr = &countingReader{r: conn}
				br = bufio.NewReader(cr)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			cr.n = 0
			if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
				drop() // the server had closed: the request did not go
				c.raced.Add(1)
				continue
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				// ReadResponse reports an EOF before the status line as
				// io.ErrUnexpectedEOF; cr.n tells that no byte came.
				if cr.n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
					drop()
					c.raced.Add(1)
					continue
				}
				c.fail(&c.truncated, fmt.Errorf("raw GET %s: %d bytes of a head, then %w", path, cr.n, err))
				return
			}
			body, err := io.ReadAll(resp.Body)
			done = true
			switch {
			case err != nil || len(body) != want:
				c.fail(&c.truncated, fmt.Errorf("raw GET %s: %d of %d bytes, %v", path, len(body), want, err))
				return
			case resp.StatusCode != 200:
				c.fail(&c.failed, fmt.Errorf("raw GET %s: status %d", path, resp.StatusCode))
			default:
				c.ok.Add(1)
			}
			if resp.Close {
				c.closeResp.Add(1)
				drop()
			}
		}
		if !done {
			c.fail(&c.failed, fmt.Errorf("raw GET %s: no answer after 5 tries", path))
		}
		select {
		case <-stop:
			return
		case <-time.After(pause()):
		}
	}
}

func (c *drainCounts) fail(n *atomic.Int64, err error) {
	n.Add(1)
	c.firstErr.CompareAndSwap(nil, err)
}

// client makes GETs on one keep-alive connection at a time until stop:
// n bytes, or a slow answer every tenth request so some are in flight when
// the drain begins. Every response must be whole.
func (c *drainCounts) client(id int, base string, stop <-chan struct{}) {
	c.run(id, base, stop, nil)
}

// run is client with a pause between requests: a pause about as long as
// the server's minimum idle window makes the drain's idle close race the
// client's next request, the case a client retries.
func (c *drainCounts) run(id int, base string, stop <-chan struct{}, pause func() time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		path, want := fmt.Sprintf("/bytes/%d", 1000+id*997+i%7*3001), 0
		fmt.Sscanf(path, "/bytes/%d", &want)
		if i%10 == 9 {
			path = "/delay/150ms"
		}
		var resp *http.Response
		var err error
		for try := 0; try < 5; try++ {
			if resp, err = hc.Get(base + path); err == nil || !retryable(err) {
				break
			}
			c.retried.Add(1)
			time.Sleep(time.Duration(try) * 5 * time.Millisecond)
		}
		if err != nil {
			c.fail(&c.failed, fmt.Errorf("GET %s: %w", path, err))
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			c.fail(&c.truncated, fmt.Errorf("GET %s: body after %d bytes: %w", path, len(body), err))
		case resp.StatusCode != 200:
			c.fail(&c.failed, fmt.Errorf("GET %s: status %d", path, resp.StatusCode))
		case strings.HasPrefix(path, "/delay/"):
			if string(body) != "waited 150ms\n" {
				c.fail(&c.truncated, fmt.Errorf("GET %s: body %q", path, body))
			} else {
				c.delayed.Add(1)
				c.ok.Add(1)
			}
		case len(body) != want:
			c.fail(&c.truncated, fmt.Errorf("GET %s: %d bytes, want %d", path, len(body), want))
		default:
			c.ok.Add(1)
		}
		if resp.Close {
			c.closeResp.Add(1)
		}
		if pause != nil {
			select {
			case <-stop:
				return
			case <-time.After(pause()):
			}
		}
	}
}

// TestDrain is a rolling restart on one port: two dally processes share it
// with SO_REUSEPORT, clients keep making requests on keep-alive
// connections, and the first process gets SIGTERM. Every request gets a
// whole response, or finds its connection closed before the request was
// read and is retried (idempotent GETs); none fails, none is truncated,
// and the drained process exits 0 within its drain deadline.
func TestDrain(t *testing.T) {
	addr := freePort(t)
	args := []string{"-listen", addr, "-reuse-port", "-admin", "off", "-max-requests", "-1", "-drain-timeout", "5s"}
	a := start(t, args...)
	b := start(t, args...)
	base := "http://" + addr

	var c drainCounts
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients, slow = 8, 6
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.client(i, base, stop) }()
	}
	// Slow raw clients leave their connections idle for about the minimum
	// window (2 s), so the drain's idle closes meet their next requests.
	for i := 0; i < slow; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.raw(clients+i, addr, stop, func() time.Duration { return 1900*time.Millisecond + time.Duration(rand.IntN(300))*time.Millisecond })
		}()
	}
	time.Sleep(2500 * time.Millisecond)
	before := c.ok.Load()
	sent := time.Now()
	a.signal(syscall.SIGTERM)
	rc := a.wait(5*time.Second + 2*time.Second)
	drainTook := time.Since(sent)
	// Go on a while against the survivor, then stop.
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("ok %d (before SIGTERM %d), retried %d, closed before the request was read %d, Connection: close seen %d, slow answers %d, drain took %v",
		c.ok.Load(), before, c.retried.Load(), c.raced.Load(), c.closeResp.Load(), c.delayed.Load(), drainTook)
	if rc != 0 {
		t.Errorf("drained process exited %d", rc)
	}
	if n := c.failed.Load() + c.truncated.Load(); n != 0 {
		t.Errorf("%d failed, %d truncated; first: %v", c.failed.Load(), c.truncated.Load(), c.firstErr.Load())
	}
	if c.ok.Load() <= before || before == 0 {
		t.Errorf("requests did not go on through the drain: %d before, %d in all", before, c.ok.Load())
	}
	if c.closeResp.Load() == 0 {
		t.Errorf("no response carried Connection: close: the drain did not end connections at request boundaries")
	}
	if !strings.Contains(a.out.String(), "msg=stopped") {
		t.Errorf("drained process did not report a clean stop")
	}
	b.signal(syscall.SIGTERM)
	if rc := b.wait(7 * time.Second); rc != 0 {
		t.Errorf("second process exited %d", rc)
	}
}

// TestDrainStages watches one process drain: a request in flight at
// SIGTERM is answered whole with Connection: close; idle keep-alive
// connections are closed (clean EOF, no bytes) once their minimum idle
// window since their last response has passed, not at once; new
// connections are refused; the process exits 0 well within the deadline.
func TestDrainStages(t *testing.T) {
	p := start(t, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-drain-timeout", "8s")
	base := p.public[0]
	var idle []*rawConn
	for i := 0; i < 3; i++ {
		rc := dialRaw(t, base)
		if resp, _ := rc.get("/bytes/10"); resp.Close {
			t.Fatal("keep-alive response carries Connection: close")
		}
		idle = append(idle, rc)
	}
	lastAnswer := time.Now()
	slow := dialRaw(t, base)
	slow.c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(slow.c, "GET /delay/1s HTTP/1.1\r\nHost: test\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // the request is in the handler
	p.signal(syscall.SIGTERM)
	sent := time.Now()

	resp, err := http.ReadResponse(slow.br, nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "waited 1s\n" || !resp.Close {
		t.Errorf("in-flight request: %q %v, Connection: close %v", body, err, resp.Close)
	}
	// After the last response, the server's write side is shut: EOF, then
	// our close ends its lingering read.
	if n, err := slow.br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after Connection: close: %d bytes, %v; want EOF", n, err)
	}
	slow.c.Close()
	for i, rc := range idle {
		rc.c.SetDeadline(time.Now().Add(9 * time.Second))
		n, err := rc.br.Read(make([]byte, 1))
		closedAfter := time.Since(lastAnswer)
		if n != 0 || err != io.EOF {
			t.Errorf("idle connection %d: read %d bytes, %v; want a clean EOF", i, n, err)
		}
		// The default minimum idle window is 2 s (tick granularity 100 ms).
		if closedAfter < 1800*time.Millisecond {
			t.Errorf("idle connection %d closed %v after its last response, inside the minimum window", i, closedAfter)
		}
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Errorf("a new connection was accepted during the drain")
	}
	if rc := p.wait(8 * time.Second); rc != 0 {
		t.Errorf("exit %d", rc)
	}
	t.Logf("exited %v after SIGTERM", time.Since(sent))
}

// TestDrainSpread: with drain.spread, the idle connections open when the
// drain begins are closed at a pace, not in one instant (the server's
// pacing is tested in package server; this is the file's knob reaching it).
func TestDrainSpread(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/dally.yaml"
	writeFile(t, cfg, `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
server:
  min_idle_window: 100ms
drain:
  spread: 1500ms
  timeout: 5s
`)
	p := start(t, "-config", cfg)
	const n = 4
	var idle []*rawConn
	for i := 0; i < n; i++ {
		rc := dialRaw(t, p.public[0])
		rc.get("/bytes/1")
		idle = append(idle, rc)
	}
	time.Sleep(300 * time.Millisecond) // past the minimum window
	sent := time.Now()
	p.signal(syscall.SIGTERM)
	closed := make(chan time.Duration, n)
	for _, rc := range idle {
		go func() {
			rc.c.SetDeadline(time.Now().Add(6 * time.Second))
			n, err := rc.br.Read(make([]byte, 1))
			if n != 0 || err != io.EOF {
				t.Errorf("idle connection: %d bytes, %v; want a clean EOF", n, err)
			}
			closed <- time.Since(sent)
		}()
	}
	var first, last time.Duration
	for i := 0; i < n; i++ {
		d := <-closed
		if i == 0 {
			first = d
		}
		last = d
	}
	// Even pacing puts the last of 4 at 3/4 of the spread or later.
	if last-first < 900*time.Millisecond {
		t.Errorf("idle connections closed from %v to %v after SIGTERM: not spread over 1.5 s", first, last)
	}
	if rc := p.wait(6 * time.Second); rc != 0 {
		t.Errorf("exit %d", rc)
	}
	t.Logf("idle closes from %v to %v", first, last)
}

// TestDrainDeadline: a request slower than drain.timeout is cut at the
// deadline, and the process says so with exit status 1.
func TestDrainDeadline(t *testing.T) {
	p := start(t, "-listen", "127.0.0.1:0", "-admin", "off", "-drain-timeout", "500ms")
	slow := dialRaw(t, p.public[0])
	fmt.Fprintf(slow.c, "GET /delay/10s HTTP/1.1\r\nHost: test\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	sent := time.Now()
	p.signal(syscall.SIGTERM)
	if rc := p.wait(5 * time.Second); rc != 1 {
		t.Errorf("exit %d, want 1 (drain cut short)", rc)
	}
	if took := time.Since(sent); took > 3*time.Second {
		t.Errorf("exited %v after SIGTERM, deadline 500ms", took)
	}
	slow.c.SetDeadline(time.Now().Add(2 * time.Second))
	if n, err := slow.br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("in-flight connection after the deadline: %d bytes, %v", n, err)
	}
	if !strings.Contains(p.out.String(), "drain cut short") {
		t.Errorf("no word of the cut")
	}
}
