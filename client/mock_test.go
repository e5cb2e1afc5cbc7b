package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serveN answers requests on a connection with resp(i) until it returns "".
func keepAliveMock(t *testing.T, resp func(m *mock, conn, req int, r *http.Request) string) *mock {
	return startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			r, _, err := m.readReq(br)
			if err != nil {
				return
			}
			out := resp(m, ci, i, r)
			if out == "" {
				return
			}
			if _, err := io.WriteString(c, out); err != nil {
				return
			}
		}
	})
}

// The server closes an idle connection just as the next request arrives:
// it reads the request and closes without a byte of response. A GET is
// retried once on a fresh connection; a POST is not, and reaches the
// server once.
func TestIdleCloseAsRequestArrives(t *testing.T) {
	m := keepAliveMock(t, func(m *mock, conn, req int, r *http.Request) string {
		if req == 1 {
			return "" // the second request on any connection meets a close
		}
		return ok200("ok")
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	get(t, c, m.url("/1"))
	if got, _ := get(t, c, m.url("/2")); got != "ok" {
		t.Fatalf("retried GET: %q", got)
	}
	if st := tr.Stats(); st.Retries != 1 || st.ConnsOpened != 2 {
		t.Fatalf("stats %+v", st)
	}
	// A POST meeting the same close fails and reaches the server once. (A
	// new transport: the first one has learned to close before reuse.)
	tr = &Transport{}
	c = &http.Client{Transport: tr}
	get(t, c, m.url("/warm"))
	resp, err := c.Post(m.url("/p"), "text/plain", strings.NewReader("once"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("POST succeeded on a connection the server closed")
	}
	waitFor(t, "POST read", func() bool { return m.posts.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := m.posts.Load(); n != 1 {
		t.Fatalf("server saw %d POSTs", n)
	}
	if st := tr.Stats(); st.Retries != 0 {
		t.Fatalf("POST retried: %+v", st)
	}
	// With Idempotency-Key (and a replayable body) the POST may go again.
	m.posts.Store(0)
	tr = &Transport{}
	c = &http.Client{Transport: tr}
	req, _ := http.NewRequest("POST", m.url("/p"), strings.NewReader("key"))
	req.Header.Set("Idempotency-Key", "k1")
	get(t, c, m.url("/warm"))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("POST with Idempotency-Key: %v", err)
	}
	resp.Body.Close()
	if n := m.posts.Load(); n != 2 {
		t.Fatalf("server saw %d POSTs with the key, want 2 (one lost, one answered)", n)
	}
}

// A server that advertises no timeout teaches it by its FINs: after the
// first, a POST takes no connection idle about that long.
func TestLearnedIdleTimeout(t *testing.T) {
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		for {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, _, err := m.readReq(br); err != nil {
				return
			}
			io.WriteString(c, ok200("x"))
		}
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	get(t, c, m.url("/"))
	time.Sleep(150 * time.Millisecond)
	get(t, c, m.url("/")) // FIN seen after 150 ms idle
	// Past the server's 100 ms and past 3/4 of what was learned (at least
	// 150 ms: more when the machine is slow to wake the test).
	tr.mu.Lock()
	var learned time.Duration
	for _, p := range tr.pools {
		p.mu.Lock()
		learned = p.learned
		p.mu.Unlock()
	}
	tr.mu.Unlock()
	time.Sleep(max(130*time.Millisecond, learned*3/4+20*time.Millisecond))
	resp, err := c.Post(m.url("/"), "text/plain", strings.NewReader("p"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st := tr.Stats()
	// The second GET found the FIN, or (a slow machine) met the close and
	// was retried: either way the server's timeout was learned once.
	if st.Closed["fin_seen"]+st.Retries != 1 || st.Closed["learned_timeout"] != 1 || m.posts.Load() != 1 {
		t.Fatalf("stats %+v, server POSTs %d", st, m.posts.Load())
	}
}

// A server FIN on an idle connection is seen before the next request is
// written: no retry, no error, a new connection.
func TestFINSeenBeforeReuse(t *testing.T) {
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		if _, _, err := m.readReq(br); err != nil {
			return
		}
		io.WriteString(c, ok200("x"))
		// return: the deferred Close sends a FIN with no Connection: close
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	for i := 0; i < 5; i++ {
		get(t, c, m.url("/"))
		waitFor(t, "server close", func() bool { return m.ended.Load() == int64(i+1) })
		time.Sleep(5 * time.Millisecond) // the FIN crosses loopback
	}
	st := tr.Stats()
	if st.Retries != 0 || st.Closed["fin_seen"] != 4 || m.reqs.Load() != 5 {
		t.Fatalf("stats %+v, server requests %d", st, m.reqs.Load())
	}
}

func TestHTTP10Persistence(t *testing.T) {
	tests := []struct {
		name      string
		resp      string
		wantConns int64
	}{
		{"1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 3},
		{"1.0 with keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 1},
		{"1.0 close-delimited", "HTTP/1.0 200 OK\r\n\r\nok", 3},
		{"1.1 Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 3},
		{"1.1 close-delimited", "HTTP/1.1 200 OK\r\n\r\nok", 3},
		{"1.1 default", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
				for {
					if _, _, err := m.readReq(br); err != nil {
						return
					}
					io.WriteString(c, tt.resp)
					if !strings.Contains(tt.resp, "Content-Length") {
						return // close-delimited: the close ends the body
					}
				}
			})
			tr := &Transport{}
			c := &http.Client{Transport: tr}
			for i := 0; i < 3; i++ {
				if got, _ := get(t, c, m.url("/")); got != "ok" {
					t.Fatalf("body %q", got)
				}
			}
			if n := m.conns.Load(); n != tt.wantConns {
				t.Fatalf("server accepted %d connections, want %d (stats %+v)", n, tt.wantConns, tr.Stats())
			}
			if st := tr.Stats(); st.Retries != 0 {
				t.Fatalf("retries %d", st.Retries)
			}
		})
	}
}

// Keep-Alive: timeout=1: the client closes the idle connection before the
// second is up, and before the server would.
func TestKeepAliveHintClosesFirst(t *testing.T) {
	var sent, eof atomic.Int64
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		if _, _, err := m.readReq(br); err != nil {
			return
		}
		io.WriteString(c, ok200("x", "Keep-Alive: timeout=1, max=100\r\n"))
		sent.Store(time.Now().UnixNano())
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := br.ReadByte(); err == io.EOF {
			eof.Store(time.Now().UnixNano())
		}
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	get(t, c, m.url("/"))
	waitFor(t, "client close", func() bool { return eof.Load() != 0 })
	if d := time.Duration(eof.Load() - sent.Load()); d >= time.Second || d < 500*time.Millisecond {
		t.Fatalf("client closed %v after the response, want in [0.5 s, 1 s)", d)
	}
	if st := tr.Stats(); st.Closed["server_hint"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// max=1: one more request, then the client closes.
func TestKeepAliveMax(t *testing.T) {
	m := keepAliveMock(t, func(m *mock, conn, req int, r *http.Request) string {
		return ok200("x", "Keep-Alive: timeout=5, max="+itoa(1-req)+"\r\n")
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	for i := 0; i < 4; i++ {
		get(t, c, m.url("/"))
	}
	st := tr.Stats()
	if m.conns.Load() != 2 || st.Closed["max_requests"] != 2 || st.Retries != 0 {
		t.Fatalf("conns %d stats %+v", m.conns.Load(), st)
	}
}

func TestConnectionCloseAndDisableKeepAlives(t *testing.T) {
	var sawClose atomic.Int64
	m := keepAliveMock(t, func(m *mock, conn, req int, r *http.Request) string {
		if r.Close {
			sawClose.Add(1)
		}
		return ok200("x")
	})
	tr := &Transport{DisableKeepAlives: true}
	c := &http.Client{Transport: tr}
	for i := 0; i < 3; i++ {
		get(t, c, m.url("/"))
	}
	if m.conns.Load() != 3 || sawClose.Load() != 3 {
		t.Fatalf("conns %d, Connection: close seen %d", m.conns.Load(), sawClose.Load())
	}
	if st := tr.Stats(); st.Closed["keepalives_disabled"] != 3 || st.Open != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A reset in the middle of a body is an error, never a short success.
func TestResetMidBody(t *testing.T) {
	for _, framing := range []string{"Content-Length: 1000\r\n", "Transfer-Encoding: chunked\r\n", ""} {
		t.Run(strings.TrimSpace(framing), func(t *testing.T) {
			m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
				if _, _, err := m.readReq(br); err != nil {
					return
				}
				part := strings.Repeat("y", 100)
				if strings.Contains(framing, "chunked") {
					part = "64\r\n" + part + "\r\n"
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\n"+framing+"\r\n"+part)
				time.Sleep(20 * time.Millisecond)
				c.(*net.TCPConn).SetLinger(0) // RST
			})
			tr := &Transport{}
			resp, err := (&http.Client{Transport: tr}).Get(m.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Fatalf("read %d bytes and no error", len(b))
			}
			if st := tr.Stats(); st.Open != 0 || st.Closed["error"] != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// Waiters are served in order and give up with their context.
func TestWaitersFIFOAndContext(t *testing.T) {
	release := make(chan struct{})
	var order []string
	var mu sync.Mutex
	m := keepAliveMock(t, func(m *mock, conn, req int, r *http.Request) string {
		if r.URL.Path == "/hold" {
			<-release
		}
		mu.Lock()
		order = append(order, r.URL.Path)
		mu.Unlock()
		return ok200("x")
	})
	tr := &Transport{MaxConnsPerHost: 1}
	c := &http.Client{Transport: tr}
	done := make(chan struct{})
	go func() { get(t, c, m.url("/hold")); close(done) }()
	waitFor(t, "hold in flight", func() bool { return m.reqs.Load() == 1 })
	// A waiter whose context ends leaves the queue.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", m.url("/gone"), nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v", err)
	}
	cancel()
	var wg sync.WaitGroup
	for i, p := range []string{"/w1", "/w2", "/w3"} {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, c, m.url(p)) }()
		waitFor(t, "queued", func() bool { return waiters(tr) == i+1 }) // queue in this order
	}
	close(release)
	wg.Wait()
	<-done
	if got := strings.Join(order, " "); got != "/hold /w1 /w2 /w3" {
		t.Fatalf("order %q", got)
	}
	if m.conns.Load() != 1 {
		t.Fatalf("conns %d", m.conns.Load())
	}
}

// Cancellation while the head is awaited and while the body is read.
func TestCancelDuringHeadAndBody(t *testing.T) {
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		r, _, err := m.readReq(br)
		if err != nil {
			return
		}
		if r.URL.Path == "/body" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf")
		}
		io.Copy(io.Discard, br) // until the client closes
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", m.url("/head"), nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("head: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx2, "GET", m.url("/body"), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(30 * time.Millisecond); cancel2() }()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("body: %v", err)
	}
	resp.Body.Close()
	waitFor(t, "conns closed", func() bool { return tr.Stats().Open == 0 })
}

// One FIN found at reuse makes the pool look at its other idle
// connections: those the server closed too go at once, even behind one
// that is still alive.
func TestFINSweepsSiblings(t *testing.T) {
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := m.readReq(br); err != nil {
				return
			}
			// Answers finish in accept order, so the idle list is 0,1,2,3
			// (3 most recent); all but connection 2 then close.
			time.Sleep(time.Duration(50+20*ci) * time.Millisecond)
			io.WriteString(c, ok200("x"))
			if ci != 2 {
				return
			}
		}
	})
	tr := &Transport{MaxConnsPerHost: 4}
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, c, m.url("/")) }()
	}
	wg.Wait()
	waitFor(t, "server closes", func() bool { return m.ended.Load() == 3 })
	time.Sleep(5 * time.Millisecond) // the FINs cross loopback
	get(t, c, m.url("/"))            // 3 is dead, 2 alive: 0 and 1 go too
	st := tr.Stats()
	if st.Closed["fin_seen"] != 3 || st.Idle != 1 || st.ConnsOpened != 4 || st.Retries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// ResponseHeaderTimeout on a reused connection is the client's own limit,
// not the server closing an idle connection: the GET is not sent again,
// and nothing is learned about the server's idle limit.
func TestResponseHeaderTimeoutIsNotRetried(t *testing.T) {
	release := make(chan struct{})
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, _, err := m.readReq(br); err != nil {
				return
			}
			if ci == 0 && i == 0 {
				io.WriteString(c, ok200("x"))
				continue
			}
			select { // never answer
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return
		}
	})
	defer close(release)
	tr := &Transport{ResponseHeaderTimeout: 200 * time.Millisecond}
	c := &http.Client{Transport: tr}
	get(t, c, m.url("/"))
	_, err := c.Get(m.url("/slow"))
	if err == nil || !strings.Contains(err.Error(), "ResponseHeaderTimeout") {
		t.Fatalf("err %v, want the header timeout", err)
	}
	if n := m.reqs.Load(); n != 2 {
		t.Fatalf("server read %d requests, want 2 (no retry)", n)
	}
	if st := tr.Stats(); st.Retries != 0 {
		t.Fatalf("retries %d", st.Retries)
	}
}

// The FIN peek is spared only for a retryable request on a connection
// used very recently. The server answers once and closes (a FIN, no
// Connection: close), as if its idle timer fired at once. A GET reusing
// the connection within peekSkipIdle meets the close and is retried once
// on a fresh connection; a POST always peeks, so it is never written to
// the dead connection and reaches the server exactly once.
func TestPeekSkippedOnlyWhenRetryable(t *testing.T) {
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		if _, _, err := m.readReq(br); err != nil {
			return
		}
		io.WriteString(c, ok200("x"))
	})
	tests := []struct {
		name                 string
		post                 bool
		wantFIN, wantRetries int64
	}{
		{"GET: no peek, one retry", false, 0, 1},
		{"POST: peek, no retry", true, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.reqs.Store(0)
			m.posts.Store(0)
			m.ended.Store(0)
			tr := &Transport{PeekSkipIdle: time.Minute} // every reuse here is recent
			c := &http.Client{Transport: tr}
			get(t, c, m.url("/first"))
			waitFor(t, "server close", func() bool { return m.ended.Load() == 1 })
			time.Sleep(5 * time.Millisecond) // the FIN crosses loopback
			if tc.post {
				resp, err := c.Post(m.url("/p"), "text/plain", strings.NewReader("once"))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			} else {
				get(t, c, m.url("/second"))
			}
			st := tr.Stats()
			if st.Closed["fin_seen"] != tc.wantFIN || st.Retries != tc.wantRetries || st.ConnsOpened != 2 {
				t.Fatalf("stats %+v", st)
			}
			if tc.post && m.posts.Load() != 1 {
				t.Fatalf("server saw %d POSTs, want 1", m.posts.Load())
			}
		})
	}
}
