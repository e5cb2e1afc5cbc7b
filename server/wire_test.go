package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startServer serves h on a loopback port and, at cleanup, closes the
// server and checks that no goroutine and no descriptor was left behind.
func startServer(t testing.TB, s *Server, h http.Handler) (*Server, string) {
	t.Helper()
	goroutines := runtime.NumGoroutine()
	fds := countFDs()
	if s == nil {
		s = &Server{}
	}
	s.Handler = h
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		checkNoLeaks(t, goroutines, fds)
	})
	return s, ln.Addr().String()
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// checkNoLeaks waits a little for goroutines and descriptors to return to
// their count before the test (parked workers exit with the server).
func checkNoLeaks(t testing.TB, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), countFDs()
		if g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("leak: goroutines %d -> %d, descriptors %d -> %d\n%s", goroutines, g, fds, f, buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type wire struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *wire {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wire{t: t, c: c, br: bufio.NewReader(c)}
}

func (w *wire) send(s string) {
	w.t.Helper()
	if _, err := io.WriteString(w.c, s); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// response reads one response (for a request with the given method) and
// its whole body.
func (w *wire) response(method string) (*http.Response, string) {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(w.br, &http.Request{Method: method})
	if err != nil {
		w.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// rawUntilClose reads everything until the server closes.
func (w *wire) rawUntilClose() string {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(w.br)
	if err != nil {
		w.t.Fatalf("read until close: %v (got %q)", err, b)
	}
	return string(b)
}

// wantClosed asserts an orderly close (FIN, not reset) with no more bytes.
func (w *wire) wantClosed() {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := w.br.ReadByte()
	if err == nil {
		w.t.Fatalf("want close, got byte %q", b)
	}
	if err != io.EOF {
		w.t.Fatalf("want orderly close (EOF), got %v", err)
	}
}

// wantOpen asserts the connection is still open and silent.
func (w *wire) wantOpen() {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	b, err := w.br.ReadByte()
	var ne net.Error
	if err == nil {
		w.t.Fatalf("want open and silent, got byte %q", b)
	}
	if !errors.As(err, &ne) || !ne.Timeout() {
		w.t.Fatalf("want open, got %v", err)
	}
}

func hello(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hello "+r.URL.Path)
}

func TestKeepAlive11(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(hello))
	w := dial(t, addr)
	for i := 0; i < 3; i++ {
		w.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := w.response("GET")
		if resp.StatusCode != 200 || body != "hello /a" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if resp.Close {
			t.Fatal("HTTP/1.1 response closes without cause")
		}
		if ka := resp.Header.Get("Keep-Alive"); !strings.HasPrefix(ka, "timeout=60") {
			t.Fatalf("Keep-Alive = %q, want timeout=60...", ka)
		}
		if resp.ContentLength != 8 {
			t.Fatalf("Content-Length = %d, want 8", resp.ContentLength)
		}
	}
	w.wantOpen()
}

// RFC 9112 §9.3 and the persistence table: version x Connection tokens.
func TestPersistenceTable(t *testing.T) {
	cases := []struct {
		name, req string
		persist   bool
		connHdr   string
	}{
		{"1.1-none", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true, ""},
		{"1.1-close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, "close"},
		{"1.1-keep-alive", "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", true, ""},
		{"1.1-other", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-foo\r\n\r\n", true, ""},
		{"1.0-none", "GET / HTTP/1.0\r\n\r\n", false, "close"},
		{"1.0-keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, "keep-alive"},
		{"1.0-Keep-Alive-case", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, "keep-alive"},
		{"1.0-close", "GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false, "close"},
		{"1.0-other", "GET / HTTP/1.0\r\nConnection: x-foo\r\n\r\n", false, "close"},
		{"1.1-list-with-close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-foo, close\r\n\r\n", false, "close"},
	}
	_, addr := startServer(t, nil, http.HandlerFunc(hello))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := dial(t, addr)
			w.send(tc.req)
			resp, _ := w.response("GET")
			// net/http's reader turns "Connection: close" into resp.Close.
			got := resp.Header.Get("Connection")
			if resp.Close {
				got = "close"
			}
			if !strings.EqualFold(got, tc.connHdr) {
				t.Errorf("Connection = %q, want %q", got, tc.connHdr)
			}
			if tc.persist {
				w.wantOpen()
			} else {
				w.wantClosed()
			}
		})
	}
}

func TestCloseMidPipelineProcessesNothingAfter(t *testing.T) {
	var calls atomic.Int32
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		hello(w, r)
	}))
	w := dial(t, addr)
	w.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" +
		"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	_, b1 := w.response("GET")
	r2, b2 := w.response("GET")
	if b1 != "hello /1" || b2 != "hello /2" {
		t.Fatalf("bodies %q %q", b1, b2)
	}
	if !r2.Close {
		t.Fatal("response to the close request lacks Connection: close")
	}
	w.wantClosed()
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (nothing after close)", n)
	}
}

// The case: 15 pipelined requests to a server that takes 5 per
// connection: 5 complete responses, the 5th with Connection: close, then
// an orderly close (no reset destroys them).
func TestPipelined15Max5(t *testing.T) {
	_, addr := startServer(t, &Server{MaxRequestsPerConn: 5}, http.HandlerFunc(hello))
	w := dial(t, addr)
	var reqs strings.Builder
	for i := 0; i < 15; i++ {
		reqs.WriteString("GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	w.send(reqs.String())
	for i := 1; i <= 5; i++ {
		resp, body := w.response("GET")
		if body != "hello /p" {
			t.Fatalf("response %d body %q", i, body)
		}
		if resp.Close != (i == 5) {
			t.Fatalf("response %d: Close=%v", i, resp.Close)
		}
		if i < 5 && !strings.Contains(resp.Header.Get("Keep-Alive"), "max="+string(rune('0'+5-i))) {
			t.Fatalf("response %d: Keep-Alive %q", i, resp.Header.Get("Keep-Alive"))
		}
	}
	w.wantClosed()
}

func TestPipelinedResponsesInOrder(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(50 * time.Millisecond)
		}
		hello(w, r)
	}))
	w := dial(t, addr)
	w.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nHEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []struct{ method, body string }{{"GET", "hello /slow"}, {"GET", "hello /fast"}, {"HEAD", ""}, {"GET", "hello /last"}} {
		resp, body := w.response(want.method)
		if body != want.body {
			t.Fatalf("got %q, want %q", body, want.body)
		}
		if want.method == "HEAD" && resp.ContentLength != 8 {
			t.Fatalf("HEAD Content-Length = %d, want 8", resp.ContentLength)
		}
	}
	w.wantOpen()
}

// A response held back because input follows it (pipelining) goes out
// when that input is only part of the next head: the client may wait for
// it before sending the rest.
func TestHeldResponseLeavesBeforeAPartialHead(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(hello))
	w := dial(t, addr)
	w.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHo")
	if _, body := w.response("GET"); body != "hello /1" {
		t.Fatalf("first response %q", body)
	}
	w.send("st: x\r\n\r\n")
	if _, body := w.response("GET"); body != "hello /2" {
		t.Fatalf("second response %q", body)
	}
	// Input that is not even a request line yet: a lone CRLF, which may
	// precede a request (RFC 9112 §2.2).
	w.send("GET /3 HTTP/1.1\r\nHost: x\r\n\r\n\r\n")
	if _, body := w.response("GET"); body != "hello /3" {
		t.Fatalf("third response %q", body)
	}
	w.send("GET /4 HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := w.response("GET"); body != "hello /4" {
		t.Fatalf("fourth response %q", body)
	}
	w.wantOpen()
}

func TestRemoteAddrIsPlainIPv4(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	}))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_, body := w.response("GET")
	if body != w.c.LocalAddr().String() {
		t.Fatalf("RemoteAddr %q, want %q", body, w.c.LocalAddr())
	}
}

func TestHTTP10UnknownLengthIsCloseDelimited(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1 ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
	}))
	w := dial(t, addr)
	w.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	raw := w.rawUntilClose()
	if strings.Contains(strings.ToLower(raw), "transfer-encoding") {
		t.Fatalf("transfer coding sent to an HTTP/1.0 client:\n%s", raw)
	}
	if !strings.Contains(raw, "Connection: close\r\n") || !strings.HasSuffix(raw, "\r\n\r\npart1 part2") {
		t.Fatalf("want a close-delimited body:\n%s", raw)
	}
}

func TestHTTP11UnknownLengthIsChunked(t *testing.T) {
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1 ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
	}))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := w.response("GET")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || body != "part1 part2" {
		t.Fatalf("TE %v body %q", resp.TransferEncoding, body)
	}
	w.wantOpen()
}

func TestBadRequestsGetStatusAndStagedClose(t *testing.T) {
	var calls atomic.Int32
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
	}))
	cases := []struct {
		name, req string
		status    int
	}{
		{"RFC9112-5.1/space-before-colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"RFC9112-3.2/no-host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"RFC9112-6.3/te-and-cl", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"RFC9112-6.1/unknown-coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x-zip\r\n\r\n", 501},
		{"RFC9112-2.3/http2-version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"RFC9110-9.1/unknown-method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501},
		{"RFC9110-10.1.1/unknown-expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n", 417},
		{"RFC9112-5.2/obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := dial(t, addr)
			w.send(tc.req)
			resp, body := w.response("GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
			if !resp.Close || body == "" {
				t.Fatalf("want Connection: close and a reason, got close=%v body=%q", resp.Close, body)
			}
			w.wantClosed()
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for bad requests", n)
	}
}
