package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

// startProxy serves p with dally's server on a loopback port (ConnState
// wired) and, at cleanup, checks that no goroutine and no descriptor was
// left behind.
func startProxy(t *testing.T, p *Proxy) string {
	t.Helper()
	goroutines := runtime.NumGoroutine()
	fds := countFDs()
	if p.ErrorLog == nil {
		p.ErrorLog = log.New(io.Discard, "", 0)
	}
	s := &server.Server{Handler: p, ConnState: p.ConnState, ErrorLog: log.New(io.Discard, "", 0)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		p.Close()
		if err := <-done; err != nil && !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		checkNoLeaks(t, goroutines, fds)
	})
	return ln.Addr().String()
}

func fdList() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		b.WriteString(e.Name() + "=" + l + " ")
	}
	return b.String()
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func checkNoLeaks(t *testing.T, goroutines, fds int) {
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
			t.Errorf("leak: goroutines %d -> %d, descriptors %d -> %d %s\n%s", goroutines, g, fds, f, fdList(), buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mock is an upstream origin over raw sockets. For every request it calls
// serve, which writes the raw response. It records, per connection, the
// requests it carried and whether bytes of a next request arrived before
// the response to the current one was written (two requests at once on one
// connection), and the most connections open at once.
type mock struct {
	t     *testing.T
	ln    net.Listener
	serve func(c net.Conn, br *bufio.Reader, req *http.Request, head string)
	// Delay holds each response back (so concurrent clients overlap).
	delay time.Duration
	raw   func(c net.Conn) // when set, has each connection instead of serve

	mu         sync.Mutex
	open       int        // guarded by mu
	maxOpen    int        // guarded by mu
	total      int        // guarded by mu: connections accepted
	perConn    [][]string // guarded by mu: X-Client of each request, per connection
	heads      []string   // guarded by mu: raw request heads in arrival order
	violations []string   // guarded by mu
	conns      map[net.Conn]bool
	wg         sync.WaitGroup
}

func newMock(t *testing.T, serve func(c net.Conn, br *bufio.Reader, req *http.Request, head string)) *mock {
	t.Helper()
	return startMock(t, &mock{serve: serve})
}

// newRawMock is a mock whose connections raw has to itself.
func newRawMock(t *testing.T, raw func(c net.Conn)) *mock {
	t.Helper()
	return startMock(t, &mock{raw: raw})
}

func startMock(t *testing.T, m *mock) *mock {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.t, m.ln, m.conns = t, ln, map[net.Conn]bool{}
	m.wg.Add(1)
	go m.accept()
	t.Cleanup(m.close)
	return m
}

func (m *mock) url() string  { return "http://" + m.ln.Addr().String() }
func (m *mock) addr() string { return m.ln.Addr().String() }

func (m *mock) close() {
	m.ln.Close()
	m.mu.Lock()
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func (m *mock) accept() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		m.open++
		m.total++
		m.maxOpen = max(m.maxOpen, m.open)
		id := len(m.perConn)
		m.perConn = append(m.perConn, nil)
		m.conns[c] = true
		m.mu.Unlock()
		m.wg.Add(1)
		go m.conn(c, id)
	}
}

// headRecorder keeps the raw bytes of the head being read.
type headRecorder struct {
	r   io.Reader
	buf strings.Builder
}

func (h *headRecorder) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.buf.Write(p[:n])
	return n, err
}

func (m *mock) conn(c net.Conn, id int) {
	defer m.wg.Done()
	defer func() {
		c.Close()
		m.mu.Lock()
		m.open--
		delete(m.conns, c)
		m.mu.Unlock()
	}()
	if m.raw != nil {
		m.raw(c)
		return
	}
	rec := &headRecorder{r: c}
	br := bufio.NewReader(rec)
	for {
		rec.buf.Reset()
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		raw := rec.buf.String()
		head := raw
		if i := strings.Index(raw, "\r\n\r\n"); i >= 0 {
			head = raw[:i+4]
		}
		m.mu.Lock()
		m.perConn[id] = append(m.perConn[id], req.Header.Get("X-Client"))
		m.heads = append(m.heads, head)
		m.mu.Unlock()
		if m.delay > 0 {
			time.Sleep(m.delay)
		}
		// A byte here, before our answer, is a second request sent while
		// this one is in flight.
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := br.Peek(1); err == nil && req.ContentLength == 0 {
			m.mu.Lock()
			m.violations = append(m.violations, fmt.Sprintf("conn %d: next request before the answer to %q", id, req.Header.Get("X-Client")))
			m.mu.Unlock()
		}
		c.SetReadDeadline(time.Time{})
		m.serve(c, br, req, head)
		if req.Body != nil {
			io.Copy(io.Discard, req.Body)
		}
		if strings.EqualFold(req.Header.Get("Connection"), "close") {
			return
		}
	}
}

func (m *mock) stats() (open, maxOpen, total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open, m.maxOpen, m.total
}

func (m *mock) lastHead() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.heads) == 0 {
		return ""
	}
	return m.heads[len(m.heads)-1]
}

// ok answers 200 with body and Content-Length.
func ok(body string) func(net.Conn, *bufio.Reader, *http.Request, string) {
	return func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
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

// head reads a response head (through the blank line), raw.
func (w *wire) head() string {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	for {
		line, err := w.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			w.t.Fatalf("reading head: %v (got %q)", err, b.String())
		}
		if line == "\r\n" {
			return b.String()
		}
	}
}

// response reads one response and its whole body.
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

// rawUntilClose reads everything until the peer closes.
func (w *wire) rawUntilClose() string {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(w.br)
	if err != nil {
		w.t.Fatalf("read until close: %v (got %q)", err, b)
	}
	return string(b)
}

// readN reads exactly n bytes.
func (w *wire) readN(n int) string {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(w.br, b); err != nil {
		w.t.Fatalf("read %d: %v (got %q)", n, err, b)
	}
	return string(b)
}

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

func reverse(t *testing.T, urls ...string) *Proxy {
	t.Helper()
	p, err := NewReverse(urls...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hasField reports whether the raw head has a field line name: value.
func hasField(head, name, value string) bool {
	for _, l := range strings.Split(head, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(k, name) && strings.TrimSpace(v) == value {
			return true
		}
	}
	return false
}

// hasName reports whether the raw head has a field called name.
func hasName(head, name string) bool {
	for _, l := range strings.Split(head, "\r\n") {
		k, _, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
