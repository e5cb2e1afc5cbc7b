package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestUpstreamErrors(t *testing.T) {
	tests := []struct {
		name   string
		serve  func(c net.Conn, br *bufio.Reader, req *http.Request, head string)
		status int
		reason string
	}{
		{"closes before answering", func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) { c.Close() }, 502, "upstream connection broke\n"},
		{"garbage answer", func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) { io.WriteString(c, "SMTP ready\r\n\r\n") }, 502, "upstream connection broke\n"},
		{"never answers", func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) { time.Sleep(time.Second) }, 504, "upstream timed out\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMock(t, tc.serve)
			p := reverse(t, m.url())
			p.UpstreamTimeout = 200 * time.Millisecond
			addr := startProxy(t, p)
			w := dial(t, addr)
			w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := w.response("GET")
			if resp.StatusCode != tc.status || body != tc.reason || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
			}
			w.wantOpen() // the client's connection survives its upstream's failure
		})
	}
	t.Run("refused", func(t *testing.T) {
		addr := startProxy(t, reverse(t, "http://"+closedPort(t)))
		w := dial(t, addr)
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := w.response("GET")
		if resp.StatusCode != 502 || body != "upstream refused the connection\n" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
}

// TestUpstreamBreaksMidBody: the client must see the message cut short
// (no last chunk; fewer bytes than Content-Length, then a close), never a
// complete-looking partial body.
func TestUpstreamBreaksMidBody(t *testing.T) {
	tests := []struct{ name, resp, want string }{
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "5\r\nhello\r\n"},
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", "hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMock(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) {
				io.WriteString(c, tc.resp)
				time.Sleep(30 * time.Millisecond)
				c.Close()
			})
			addr := startProxy(t, reverse(t, m.url()))
			w := dial(t, addr)
			w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			w.head()
			w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			rest, _ := io.ReadAll(w.br) // ends with the proxy's close
			if string(rest) != tc.want {
				t.Fatalf("got %q, want %q then close", rest, tc.want)
			}
		})
	}
}

// TestRetryAfterAsyncClose: the upstream closes a kept-alive connection
// as the next request arrives (RFC 2068 §8.1.4). An idempotent request is
// retried on a fresh connection. A POST the upstream drops is answered
// 502 and was sent once (dally's client may give a POST a fresh
// connection to begin with, having learnt how soon this upstream closes:
// the mock therefore drops every POST).
func TestRetryAfterAsyncClose(t *testing.T) {
	var posts atomic.Int32
	m := newMock(t, nil)
	var mu sync.Mutex
	perConn := map[*bufio.Reader]int{}
	m.serve = func(c net.Conn, br *bufio.Reader, req *http.Request, _ string) {
		mu.Lock()
		perConn[br]++
		n := perConn[br]
		mu.Unlock()
		if req.Method == "POST" {
			posts.Add(1)
		}
		if n > 1 || req.Method == "POST" {
			c.Close() // closed "while idle", from the server's view
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
	p := reverse(t, m.url())
	addr := startProxy(t, p)
	// Three more (idle) client connections raise 2N to 8, so no trim of
	// idle upstream connections sends the POST to a fresh one.
	for i := 0; i < 3; i++ {
		dial(t, addr)
	}
	w := dial(t, addr)
	waitFor(t, "client connections counted", func() bool { return p.Stats().ClientConns == 4 })
	for i := 0; i < 3; i++ {
		w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := w.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, body)
		}
	}
	w.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
	resp, _ := w.response("POST")
	if resp.StatusCode != 502 || posts.Load() != 1 {
		t.Fatalf("POST: status %d, upstream saw %d", resp.StatusCode, posts.Load())
	}
}

// TestBalance: round robin alternates; an upstream that refuses is skipped
// (passive health) and costs no client an error; least connections avoids
// the busy upstream.
func TestBalance(t *testing.T) {
	var hits [2]atomic.Int32
	mk := func(i int, delay func(*http.Request) time.Duration) *mock {
		return newMock(t, func(c net.Conn, _ *bufio.Reader, req *http.Request, _ string) {
			hits[i].Add(1)
			time.Sleep(delay(req))
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"+string(rune('a'+i)))
		})
	}
	none := func(*http.Request) time.Duration { return 0 }
	t.Run("round robin", func(t *testing.T) {
		hits[0].Store(0)
		hits[1].Store(0)
		a, b := mk(0, none), mk(1, none)
		addr := startProxy(t, reverse(t, a.url(), b.url()))
		w := dial(t, addr)
		var got strings.Builder
		for i := 0; i < 6; i++ {
			w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			_, body := w.response("GET")
			got.WriteString(body)
		}
		if s := got.String(); s != "ababab" && s != "bababa" {
			t.Fatalf("order %q", s)
		}
	})
	t.Run("refusing upstream skipped", func(t *testing.T) {
		hits[0].Store(0)
		a := mk(0, none)
		p := reverse(t, "http://"+closedPort(t), a.url())
		addr := startProxy(t, p)
		w := dial(t, addr)
		for i := 0; i < 6; i++ {
			w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, body := w.response("GET"); resp.StatusCode != 200 || body != "a" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}
		if d := p.ups[0].downUntil.Load(); d == 0 {
			t.Fatal("refusing upstream not marked down")
		}
		// The request tried on both was prepared once.
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, h := range a.heads {
			if !hasField(h, "Via", "1.1 dally") || !hasField(h, "X-Forwarded-For", "127.0.0.1") {
				t.Fatalf("upstream head:\n%s", h)
			}
		}
	})
	t.Run("least connections", func(t *testing.T) {
		hits[0].Store(0)
		hits[1].Store(0)
		slow := func(r *http.Request) time.Duration {
			if r.URL.Path == "/slow" {
				return 300 * time.Millisecond
			}
			return 0
		}
		a, b := mk(0, slow), mk(1, slow)
		p := reverse(t, a.url(), b.url())
		p.Balance = LeastConn
		addr := startProxy(t, p)
		busy := dial(t, addr)
		busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		waitFor(t, "slow request in flight", func() bool { return hits[0].Load()+hits[1].Load() == 1 })
		idle := 1
		if hits[1].Load() == 1 {
			idle = 0
		}
		w := dial(t, addr)
		for i := 0; i < 4; i++ {
			w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, body := w.response("GET"); body != string(rune('a'+idle)) {
				t.Fatalf("request %d went to the busy upstream (%q)", i, body)
			}
		}
		busy.response("GET")
	})
}

// TestEarlyAnswerToUpload: the upstream answers 413 without reading a
// 4 MiB upload and closes. The proxy relays the answer and neither hangs
// nor leaks (the transport's body goroutine ends before the handler writes
// to the client connection).
func TestEarlyAnswerToUpload(t *testing.T) {
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, req *http.Request, _ string) {
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
		c.(*net.TCPConn).CloseWrite()
		time.Sleep(50 * time.Millisecond)
		c.Close()
	})
	p := reverse(t, m.url())
	p.UpstreamTimeout = 2 * time.Second
	addr := startProxy(t, p)
	w := dial(t, addr)
	const n = 4 << 20
	go func() {
		io.WriteString(w.c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(n)+"\r\n\r\n")
		w.c.Write(make([]byte, n)) // fails once the proxy closes: fine
	}()
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || string(b) != "too large" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}
