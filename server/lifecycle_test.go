package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdleTimeoutClosesInOrder(t *testing.T) {
	s, addr := startServer(t, &Server{IdleTimeout: 300 * time.Millisecond}, http.HandlerFunc(hello))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := w.response("GET")
	if ka := resp.Header.Get("Keep-Alive"); strings.Contains(ka, "timeout") || !strings.HasPrefix(ka, "max=") {
		// 300 ms is under a second: no whole second can be promised, so
		// only the request count is advertised.
		t.Fatalf("Keep-Alive %q", ka)
	}
	start := time.Now()
	w.wantClosed()
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want about 300ms", d)
	}
	waitFor(t, "close counted", time.Second, func() bool { return s.Stats().Closed["idle_timeout"] == 1 })
}

func TestPeerFINNoticedWhileIdle(t *testing.T) {
	s, addr := startServer(t, nil, http.HandlerFunc(hello))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	w.response("GET")
	waitFor(t, "idle", time.Second, func() bool { return s.Stats().Idle == 1 })
	w.c.Close()
	waitFor(t, "server to notice the FIN", 2*time.Second, func() bool { return s.Stats().Open == 0 })
	if n := s.Stats().Closed["peer"]; n != 1 {
		t.Fatalf("closed by peer = %d, want 1", n)
	}
}

// A client that sends its request and its FIN at once (a half-close, as
// fixture harnesses and `nc -N` do) raises one readiness edge for both:
// the server answers, sees the FIN it already has, and closes at once.
func TestRequestWithFINIsAnsweredThenClosed(t *testing.T) {
	s, addr := startServer(t, nil, http.HandlerFunc(hello))
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		w := dial(t, addr)
		w.send(req)
		w.c.(*net.TCPConn).CloseWrite()
		raw := w.rawUntilClose() // fails if the server waits for its idle timeout
		if n := strings.Count(raw, "HTTP/1.1 200"); n != strings.Count(req, "GET") {
			t.Fatalf("%d responses to %q: %q", n, req, raw)
		}
	}
	waitFor(t, "connections closed", time.Second, func() bool { return s.Stats().Open == 0 })
}

func TestPeerFINCancelsRequestContext(t *testing.T) {
	cancelled := make(chan struct{})
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	}))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	w.c.Close()
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("the request context was not cancelled when the client left")
	}
}

// Slowloris: a head trickling in slower than MinHeaderRate is answered 408
// and closed, long before HeaderTimeout.
func TestSlowHeadIsCut(t *testing.T) {
	s, addr := startServer(t, &Server{HeaderTimeout: 20 * time.Second, MinHeaderRate: 1000}, http.HandlerFunc(hello))
	w := dial(t, addr)
	start := time.Now()
	go func() {
		for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") {
			if _, err := w.c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	resp, _ := w.response("GET")
	if resp.StatusCode != 408 || !resp.Close {
		t.Fatalf("got %d close=%v, want 408 and close", resp.StatusCode, resp.Close)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cut after %v", d)
	}
	w.wantClosed()
	if s.Stats().HeaderTimeouts != 1 {
		t.Fatalf("header timeouts = %d", s.Stats().HeaderTimeouts)
	}
}

func TestHeaderTimeoutCountsFromFirstByte(t *testing.T) {
	_, addr := startServer(t, &Server{HeaderTimeout: 500 * time.Millisecond, MinHeaderRate: 1}, http.HandlerFunc(hello))
	w := dial(t, addr)
	// An idle wait before the first byte is not header time.
	time.Sleep(700 * time.Millisecond)
	w.send("GET / HTTP/1.1\r\n")
	start := time.Now()
	resp, _ := w.response("GET")
	if resp.StatusCode != 408 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("408 after %v: the idle time was counted", d)
	}
}

func TestExpect100Continue(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	}))
	w := dial(t, addr)
	w.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	w.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := w.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q %v, want 100 Continue", line, err)
	}
	w.br.ReadString('\n')
	w.send("hello")
	_, body := w.response("POST")
	if body != "got hello" {
		t.Fatalf("body %q", body)
	}
	w.wantOpen()
}

// A handler that ignores a 100-continue body: no 100 is sent, and the
// connection closes after the response (the client may or may not send).
func TestExpect100IgnoredBodyCloses(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
	}))
	w := dial(t, addr)
	w.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	resp, _ := w.response("POST")
	if resp.StatusCode != 403 || !resp.Close {
		t.Fatalf("got %d close=%v", resp.StatusCode, resp.Close)
	}
	w.wantClosed()
}

func TestChunkedRequestBodyAndTrailers(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%v|%s", b, err, r.Trailer.Get("X-Sum"))
	}))
	w := dial(t, addr)
	w.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n")
	_, body := w.response("POST")
	if body != "hello world|<nil>|42" {
		t.Fatalf("body %q", body)
	}
	w.wantOpen()
}

func TestUnreadBodyIsDrainedAndConnectionKept(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(hello))
	w := dial(t, addr)
	w.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	_, b1 := w.response("POST")
	_, b2 := w.response("GET")
	if b1 != "hello /a" || b2 != "hello /b" {
		t.Fatalf("bodies %q %q", b1, b2)
	}
	w.wantOpen()
}

func TestLargeUnreadBodyClosesAfterResponse(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(hello))
	w := dial(t, addr)
	w.send(fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 10<<20))
	resp, body := w.response("POST")
	if body != "hello /a" || !resp.Close {
		t.Fatalf("body %q close=%v", body, resp.Close)
	}
}

// A request body is read only as fast as the handler reads: the server
// does not buffer ahead (flow control through the TCP window).
func TestRequestBodyFlowControl(t *testing.T) {
	release := make(chan struct{})
	var got atomic.Int64
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		io.WriteString(w, "ok")
	}))
	const size = 64 << 20
	w := dial(t, addr)
	w.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size))
	chunk := make([]byte, 1<<20)
	sent := 0
	w.c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	for sent < size {
		n, err := w.c.Write(chunk)
		sent += n
		if err != nil {
			break
		}
	}
	if sent >= size {
		t.Fatalf("the whole %d-byte body was accepted while the handler read nothing", size)
	}
	close(release)
	w.c.SetWriteDeadline(time.Time{})
	for sent < size {
		n, err := w.c.Write(chunk[:min(len(chunk), size-sent)])
		sent += n
		if err != nil {
			t.Fatal(err)
		}
	}
	_, body := w.response("POST")
	if body != "ok" || got.Load() != size {
		t.Fatalf("body %q, handler read %d", body, got.Load())
	}
}

func TestShedLeastRecentlyUsedIdleAtLimit(t *testing.T) {
	s, addr := startServer(t, &Server{MaxConns: 2, MinIdleWindow: time.Millisecond}, http.HandlerFunc(hello))
	a := dial(t, addr)
	a.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	a.response("GET")
	b := dial(t, addr)
	b.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	b.response("GET")
	// a is now the least recently used; use b again to be sure of the order.
	b.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	b.response("GET")
	waitFor(t, "both idle", time.Second, func() bool { return s.Stats().Idle == 2 })
	time.Sleep(5 * time.Millisecond)
	c := dial(t, addr)
	c.send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); body != "hello /c" {
		t.Fatalf("newcomer got %q", body)
	}
	a.wantClosed()
	b.wantOpen()
	if n := s.Stats().Closed["shed"]; n != 1 {
		t.Fatalf("shed = %d, want 1", n)
	}
}

func TestBusyAtLimitAnswers503(t *testing.T) {
	release := make(chan struct{})
	s, addr := startServer(t, &Server{MaxConns: 1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer close(release)
	a := dial(t, addr)
	a.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "busy", time.Second, func() bool { return s.Stats().BusyWorkers == 1 })
	b := dial(t, addr)
	b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := b.response("GET")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("got %d Retry-After=%q close=%v", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
	}
	b.wantClosed()
}

func TestShutdownDrains(t *testing.T) {
	started := make(chan struct{})
	s, addr := startServer(t, &Server{MinIdleWindow: 50 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(200 * time.Millisecond)
		}
		hello(w, r)
	}))
	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	busy := dial(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	resp, body := busy.response("GET")
	if body != "hello /slow" || !resp.Close {
		t.Fatalf("in-flight got %q close=%v", body, resp.Close)
	}
	busy.wantClosed()
	idle.wantClosed()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// With DrainSpread, Shutdown closes idle connections at an even pace: the
// quota grows with time, so the last of n cannot close before (n-1)/n of
// the spread has passed, however the machine schedules the sweeps.
func TestShutdownSpreadsIdleCloses(t *testing.T) {
	const n, spread = 8, 800 * time.Millisecond
	s, addr := startServer(t, &Server{MinIdleWindow: 10 * time.Millisecond, DrainSpread: spread}, http.HandlerFunc(hello))
	var conns []*wire
	for range n {
		w := dial(t, addr)
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		w.response("GET")
		conns = append(conns, w)
	}
	waitFor(t, "all idle", time.Second, func() bool { return s.Stats().Idle == n })
	time.Sleep(20 * time.Millisecond) // past the minimum window
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	closedAt := make(chan time.Duration, n)
	for _, w := range conns {
		go func() {
			w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var b [1]byte
			if _, err := w.c.Read(b[:]); err == io.EOF {
				closedAt <- time.Since(start)
			} else {
				closedAt <- -1
			}
		}()
	}
	var first, last time.Duration = time.Hour, 0
	for range n {
		d := <-closedAt
		if d < 0 {
			t.Fatal("a connection did not end with an orderly close")
		}
		first, last = min(first, d), max(last, d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if last < spread*(n-1)/n-50*time.Millisecond {
		t.Fatalf("closes between %v and %v: not spread over %v", first, last, spread)
	}
	if got := s.Stats().Closed["drain"]; got != n {
		t.Fatalf("closed by drain = %d, want %d", got, n)
	}
}

// A body trickled a byte at a time, each byte well within BodyTimeout, is
// cut once its rate over the time spent waiting for it falls below
// MinBodyRate, and the worker it held serves the next client. Without the
// rule, this 100,000-byte body would hold the only worker for hours.
func TestMinBodyRateCutsTrickledBody(t *testing.T) {
	readErr := make(chan error, 1)
	_, addr := startServer(t, &Server{MaxWorkers: 1, BodyTimeout: time.Second, ErrorLog: discardLog()},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" {
				_, err := io.Copy(io.Discard, r.Body)
				readErr <- err
				if err != nil {
					http.Error(w, "body too slow", http.StatusRequestTimeout)
					return
				}
			}
			hello(w, r)
		}))
	trickle := dial(t, addr)
	trickle.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := trickle.c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	probe := dial(t, addr)
	probe.send("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the trickled body was read whole")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the trickled body still holds the worker")
	}
	if resp, body := probe.response("GET"); resp.StatusCode != 200 || body != "hello /probe" {
		t.Fatalf("probe: %d %q", resp.StatusCode, body)
	}
	resp, _ := trickle.response("POST")
	if resp.StatusCode != 408 || !resp.Close {
		t.Fatalf("trickle: %d close=%v", resp.StatusCode, resp.Close)
	}
}

func TestHijack(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly\n")
	resp, _ := w.response("GET")
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	line, err := w.br.ReadString('\n')
	if err != nil || line != "echo: early\n" {
		t.Fatalf("got %q %v", line, err)
	}
}

func TestHandlerPanicBeforeWriteGives500(t *testing.T) {
	_, addr := startServer(t, &Server{ErrorLog: discardLog()}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := w.response("GET")
	if resp.StatusCode != 500 || !resp.Close {
		t.Fatalf("got %d close=%v", resp.StatusCode, resp.Close)
	}
	w.wantClosed()
}

func TestShortWriteAgainstContentLengthCloses(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "short")
	}))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	raw := w.rawUntilClose()
	if !strings.HasSuffix(raw, "\r\n\r\nshort") || !strings.Contains(raw, "Content-Length: 10") {
		t.Fatalf("raw %q", raw)
	}
}

func TestConnTableAndStates(t *testing.T) {
	s, addr := startServer(t, nil, http.HandlerFunc(hello))
	w := dial(t, addr)
	for i := 0; i < 3; i++ {
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		w.response("GET")
	}
	waitFor(t, "idle", time.Second, func() bool { return s.ConnsByState()[StateIdle] == 1 })
	rows := s.ConnTable(0)
	if len(rows) != 1 || rows[0].Requests != 3 || rows[0].State != StateIdle || rows[0].Remote != w.c.LocalAddr().String() {
		t.Fatalf("table %+v", rows)
	}
}

// Close straight after Serve starts: the acceptor is published only
// complete, and a stop that comes before its registration is honoured
// (Serve returns, nothing is left in the loop). Run under -race.
func TestCloseRightAfterServe(t *testing.T) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Handler: http.HandlerFunc(hello)}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ln) }()
		s.Close()
		select {
		case err := <-done:
			if err != ErrServerClosed {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after Close")
		}
	}
}

// The per-state counts agree with the connections themselves through
// every kind of change: idle, reading, active, closed by the client, by
// the server, hijacked; and return to zero when all are gone.
func TestConnsByStateCounts(t *testing.T) {
	release := make(chan struct{})
	s, addr := startServer(t, &Server{ErrorLog: discardLog()}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hold":
			<-release
		case "/hijack":
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		hello(w, r)
	}))
	fromTable := func() map[State]int {
		m := map[State]int{}
		for _, r := range s.ConnTable(0) {
			if r.State != StateClosed && r.State != StateHijacked {
				m[r.State]++
			}
		}
		return m
	}
	agree := func(what string) {
		t.Helper()
		waitFor(t, what, 2*time.Second, func() bool {
			return fmt.Sprint(s.ConnsByState()) == fmt.Sprint(fromTable())
		})
	}
	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")
	partial := dial(t, addr)
	partial.send("GET / HTTP/1.1\r\n")
	held := dial(t, addr)
	held.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "one active", 2*time.Second, func() bool { return s.ConnsByState()[StateActive] == 1 })
	// The partial head and the finished response settle on their own
	// time: wait for one idle and one reading, then compare with the table.
	waitFor(t, "one idle, one reading", 2*time.Second, func() bool {
		m := s.ConnsByState()
		return m[StateIdle] == 1 && m[StateReading] == 1
	})
	agree("idle, reading and active")
	hij := dial(t, addr)
	hij.send("GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	hij.wantClosed()
	bad := dial(t, addr)
	bad.send("GET / HTTP/1.1\r\nHost : x\r\n\r\n")
	bad.response("GET")
	bad.wantClosed()
	idle.c.Close()
	close(release)
	held.response("GET")
	agree("after closes and a hijack")
	partial.c.Close()
	held.c.Close()
	waitFor(t, "all gone", 3*time.Second, func() bool { return s.Stats().Open == 0 })
	if m := s.ConnsByState(); len(m) != 0 {
		t.Fatalf("counts left with no connection open: %v", m)
	}
	for st := range s.stats.byState {
		if n := s.stats.byState[st].Load(); n != 0 {
			t.Fatalf("count for %v is %d", State(st), n)
		}
	}
}

// An idle connection whose request has arrived, but whose readiness its
// loop has not handled yet, is served, not closed, when the idle timeout,
// shedding or a drain comes for it. The loop is held up on purpose: it
// blocks in the event of another connection whose mutex the test holds.
func TestIdleCloseSparesARequestInFlight(t *testing.T) {
	s, addr := startServer(t, &Server{Loops: 1}, http.HandlerFunc(hello))
	connOf := func(w *wire) *conn {
		port := w.c.LocalAddr().(*net.TCPAddr).Port
		s.mu.Lock()
		defer s.mu.Unlock()
		for c := range s.conns {
			if int(c.remote.Port()) == port {
				return c
			}
		}
		t.Fatal("connection not in the table")
		return nil
	}
	x, y := dial(t, addr), dial(t, addr)
	for _, w := range []*wire{x, y} {
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		w.response("GET")
	}
	waitFor(t, "both idle", time.Second, func() bool { return s.Stats().Idle == 2 })
	cx, cy := connOf(x), connOf(y)
	cx.mu.Lock()
	var unlock sync.Once
	release := func() { unlock.Do(cx.mu.Unlock) }
	t.Cleanup(release) // runs before the server's cleanup, which needs the lock
	x.send("G")        // the loop takes x's event and blocks on its mutex
	time.Sleep(50 * time.Millisecond)
	y.send("GET /y HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "y's request in its socket", time.Second, func() bool {
		var b [1]byte
		n, _, _ := unix.Recvfrom(cy.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return n == 1
	})
	closed := cy.closeIfIdle(reasonIdle)
	release()
	if closed {
		t.Fatal("closed with a request waiting")
	}
	if _, body := y.response("GET"); body != "hello /y" {
		t.Fatalf("y got %q", body)
	}
	if n := s.Stats().SavedFromClose; n != 1 {
		t.Fatalf("SavedFromClose = %d, want 1", n)
	}
	x.send("ET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := x.response("GET"); body != "hello /x" {
		t.Fatalf("x got %q", body)
	}
}

// A client that takes its response a little at a time, well within
// WriteTimeout, is cut once its rate over the time the server spent waiting
// for room falls below MinWriteRate. (The rate is high here because the
// socket buffers take megabytes at once on loopback, which counts as sent.)
// Without the rule this 8 MiB response at about 25 KB/s would hold its
// worker for minutes.
func TestMinWriteRateCutsSlowReader(t *testing.T) {
	writeErr := make(chan error, 1)
	_, addr := startServer(t, &Server{WriteTimeout: time.Minute, MinWriteRate: 2 << 20, ErrorLog: discardLog()},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			const total = 8 << 20
			w.Header().Set("Content-Length", strconv.Itoa(total))
			buf := make([]byte, 64<<10)
			for n := 0; n < total; n += len(buf) {
				if _, err := w.Write(buf); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- nil
		}))
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
		return nil
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		b := make([]byte, 512)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(b); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("the slow reader took the whole response")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the slow reader still holds the worker")
	}
}

func TestRateLimit(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name   string
		limit  time.Duration
		rate   int
		n      int64
		waited time.Duration
		want   time.Duration
		ok     bool
	}{
		{"no rule", 30 * s, 0, 0, time.Hour, 30 * s, true},
		{"within the grace", 30 * s, 256, 0, s, s, true},
		{"grace spent, nothing moved", 30 * s, 256, 0, 2 * s, 0, false},
		{"bytes earn time", 30 * s, 256, 2560, 2 * s, 8 * s, true},
		{"earned time spent", 30 * s, 256, 2560, 10 * s, 0, false},
		{"never past the wait's own limit", 3 * s, 256, 1 << 20, 0, 3 * s, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rateLimit(tc.limit, tc.rate, 2*s, tc.n, tc.waited)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("rateLimit = %v %v, want %v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// A handler's Content-Length that is not 1*DIGIT (RFC 9110 §8.6) is
// dropped, not sent: the server frames the body itself and the connection
// stays usable. strconv.ParseInt would have taken "+5" and sent it on.
func TestHandlerInvalidContentLengthIsReplaced(t *testing.T) {
	vals := []string{"+5", "-5", " 5", "5 ", "0x5", "", "99999999999999999999"}
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = []string{vals[len(r.URL.Path)-1]}
		io.WriteString(w, "hello")
	}))
	w := dial(t, addr)
	for i, v := range vals {
		w.send("GET /" + strings.Repeat("x", i) + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := w.response("GET")
		if got := resp.Header["Content-Length"]; len(got) != 1 || got[0] != "5" || body != "hello" || resp.Close {
			t.Fatalf("handler's Content-Length %q: sent %q, body %q, close %v", v, got, body, resp.Close)
		}
	}
	w.wantOpen()
}

// A handler's field values cannot split the response, whether the fields
// are the few the server finds by lookup (Content-Type, Content-Length)
// or others found by walking the map; the walk also sees Date.
func TestHandlerFieldsCannotSplitTheResponse(t *testing.T) {
	cases := []struct {
		set      map[string]string
		want     []string // lines the head must have
		wantNone []string // substrings it must not
	}{
		{map[string]string{"Content-Type": "text/plain\r\nX-Evil: 1"},
			[]string{"Content-Type: text/plain  X-Evil: 1"}, []string{"\r\nX-Evil"}},
		{map[string]string{"Content-Type": "a\nb", "Content-Length": "5"},
			[]string{"Content-Type: a b", "Content-Length: 5"}, nil},
		{map[string]string{"Content-Type": "t", "X-A": "1\x002\r\nSet-Cookie: x"},
			[]string{"Content-Type: t", "X-A: 1 2  Set-Cookie: x"}, []string{"\r\nSet-Cookie"}},
		{map[string]string{"Date": "Thu, 01 Jan 1970 00:00:00 GMT"},
			[]string{"Date: Thu, 01 Jan 1970 00:00:00 GMT", "Content-Type: text/plain; charset=utf-8"}, nil},
		{map[string]string{}, []string{"Content-Type: text/plain; charset=utf-8", "Date: "}, nil},
	}
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		for k, v := range cases[i].set {
			w.Header()[k] = []string{v}
		}
		io.WriteString(w, "hello")
	}))
	for i, tc := range cases {
		w := dial(t, addr)
		w.send(fmt.Sprintf("GET /?i=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", i))
		raw := w.rawUntilClose()
		head, body, ok := strings.Cut(raw, "\r\n\r\n")
		if !ok || body != "hello" {
			t.Fatalf("case %d: %q", i, raw)
		}
		lines := strings.Split(head, "\r\n")
		for _, want := range tc.want {
			found := 0
			for _, l := range lines {
				if l == want || strings.HasSuffix(want, ": ") && strings.HasPrefix(l, want) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("case %d: %d lines %q in %q", i, found, want, head)
			}
		}
		for _, bad := range tc.wantNone {
			if strings.Contains(head, bad) {
				t.Errorf("case %d: head has %q: %q", i, bad, head)
			}
		}
		if strings.Count(head, "Date: ") != 1 {
			t.Errorf("case %d: want one Date: %q", i, head)
		}
	}
}
