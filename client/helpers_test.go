package client

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

// startDally serves h on 127.0.0.1:0 with dally's server.
func startDally(t testing.TB, h http.Handler, cfg func(*server.Server)) (string, *server.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	if cfg != nil {
		cfg(s)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), s
}

// mock is a raw TCP server whose per-connection behaviour a test writes.
type mock struct {
	ln     net.Listener
	conns  atomic.Int64 // accepted
	ended  atomic.Int64 // connections the mock has closed
	reqs   atomic.Int64 // requests read (by readReq)
	posts  atomic.Int64 // POST requests read
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   []net.Conn
	closed atomic.Bool
}

// startMock accepts connections and runs serve(conn index, conn) for each.
func startMock(t testing.TB, serve func(m *mock, i int, c net.Conn, br *bufio.Reader)) *mock {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mock{ln: ln}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			i := int(m.conns.Add(1)) - 1
			m.mu.Lock()
			m.open = append(m.open, c)
			m.mu.Unlock()
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				serve(m, i, c, bufio.NewReader(c))
				c.Close()
				m.ended.Add(1)
			}()
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *mock) close() {
	if m.closed.Swap(true) {
		return
	}
	m.ln.Close()
	m.mu.Lock()
	for _, c := range m.open {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// waiters returns the number of requests queued for a connection.
func waiters(tr *Transport) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, p := range tr.pools {
		p.mu.Lock()
		n += len(p.waiters)
		p.mu.Unlock()
	}
	return n
}

func (m *mock) url(path string) string { return "http://" + m.ln.Addr().String() + path }

// readReq reads one request (head and body) with net/http's parser: the
// mock's reading is not under test.
func (m *mock) readReq(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, err
	}
	m.reqs.Add(1)
	if req.Method == "POST" {
		m.posts.Add(1)
	}
	return req, body, nil
}

func ok200(body string, extra ...string) string {
	return "HTTP/1.1 200 OK\r\n" + strings.Join(extra, "") + "Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func get(t testing.TB, c *http.Client, url string) (string, *http.Response) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return string(b), resp
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond for up to 2 s: state changes across sockets are
// asynchronous.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
