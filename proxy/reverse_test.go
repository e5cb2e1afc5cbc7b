package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHopByHopRequest(t *testing.T) {
	m := newMock(t, ok("hi"))
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("GET /a/b?q=1 HTTP/1.1\r\nHost: site.example\r\n" +
		"Connection: X-Secret, Keep-Alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n" +
		"Proxy-Connection: keep-alive\r\nTE: trailers, deflate;q=0.5\r\nUpgrade: h2c\r\n" +
		"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nVia: 1.0 edge\r\nX-End: e\r\n\r\n")
	resp, body := w.response("GET")
	if resp.StatusCode != 200 || body != "hi" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	h := m.lastHead()
	if !strings.HasPrefix(h, "GET /a/b?q=1 HTTP/1.1\r\n") {
		t.Errorf("request line: %q", h)
	}
	for _, name := range []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Connection", "Upgrade", "Transfer-Encoding"} {
		if hasName(h, name) {
			t.Errorf("upstream got hop-by-hop %s:\n%s", name, h)
		}
	}
	for _, f := range [][2]string{
		{"Host", "site.example"},
		{"Te", "trailers"},
		{"X-End", "e"},
		{"Via", "1.0 edge, 1.1 dally"},
		{"X-Forwarded-For", "10.0.0.1, 127.0.0.1"},
		{"X-Forwarded-Proto", "http"},
		{"X-Forwarded-Host", "site.example"},
	} {
		if !hasField(h, f[0], f[1]) {
			t.Errorf("upstream head lacks %s: %s:\n%s", f[0], f[1], h)
		}
	}
	if hasName(h, "User-Agent") || hasName(h, "Accept-Encoding") {
		t.Errorf("the transport added fields:\n%s", h)
	}
	// The proxy's values replace the client's: each name once.
	for _, name := range []string{"Via", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Te"} {
		if n := strings.Count(strings.ToLower(h), "\r\n"+strings.ToLower(name)+":"); n != 1 {
			t.Errorf("upstream head has %d %s fields:\n%s", n, name, h)
		}
	}
}

func TestHopByHopResponse(t *testing.T) {
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\n"+
			"Keep-Alive: timeout=5, max=3\r\nProxy-Connection: keep-alive\r\nUpgrade: foo\r\n"+
			"X-End: e\r\nContent-Length: 2\r\n\r\nhi")
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	h := w.head()
	for _, name := range []string{"X-Secret", "Proxy-Connection", "Upgrade"} {
		if hasName(h, name) {
			t.Errorf("client got hop-by-hop %s:\n%s", name, h)
		}
	}
	if hasField(h, "Keep-Alive", "timeout=5, max=3") || hasField(h, "Connection", "X-Secret, keep-alive") {
		t.Errorf("upstream's connection options reached the client:\n%s", h)
	}
	for _, f := range [][2]string{{"X-End", "e"}, {"Via", "1.1 dally"}, {"Content-Length", "2"}} {
		if !hasField(h, f[0], f[1]) {
			t.Errorf("client head lacks %s: %s:\n%s", f[0], f[1], h)
		}
	}
	if got := w.readN(2); got != "hi" {
		t.Errorf("body %q", got)
	}
	w.wantOpen() // persistence is this link's: the client's 1.1 default
}

// TestHTTP10Client: a proxy never keeps a persistent connection with an
// HTTP/1.0 client (RFC 2068 §8.1.3), even one asking for keep-alive.
func TestHTTP10Client(t *testing.T) {
	m := newMock(t, ok("hello"))
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	raw := w.rawUntilClose()
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || !hasField(head+"\r\n", "Connection", "close") {
		t.Fatalf("want 200 with Connection: close, got %q", raw)
	}
	if hasField(head+"\r\n", "Connection", "keep-alive") || body != "hello" {
		t.Fatalf("got %q", raw)
	}
	// rawUntilClose returned: the proxy closed (EOF).
}

// TestReframe: the proxy forwards only the framing it computes. Upstream
// bodies arrive in two parts 30 ms apart, so the proxy has sent the first
// before it knows the length: chunked to 1.1, close-delimited to 1.0.
func TestReframe(t *testing.T) {
	upstream := map[string]func(c net.Conn){
		"chunked": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			time.Sleep(30 * time.Millisecond)
			io.WriteString(c, "6\r\n world\r\n0\r\n\r\n")
		},
		"close": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello")
			time.Sleep(30 * time.Millisecond)
			io.WriteString(c, " world")
			c.(*net.TCPConn).CloseWrite()
		},
		"http10-close": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nhello")
			time.Sleep(30 * time.Millisecond)
			io.WriteString(c, " world")
			c.(*net.TCPConn).CloseWrite()
		},
		"length": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello")
			time.Sleep(30 * time.Millisecond)
			io.WriteString(c, " world")
		},
	}
	tests := []struct {
		name, up, client string
		wantField        [2]string
		wantBody         string
		closes           bool
	}{
		{"chunked to 1.1", "chunked", "1.1", [2]string{"Transfer-Encoding", "chunked"}, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false},
		{"close-delimited to 1.1", "close", "1.1", [2]string{"Transfer-Encoding", "chunked"}, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false},
		{"1.0 close-delimited to 1.1", "http10-close", "1.1", [2]string{"Transfer-Encoding", "chunked"}, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false},
		{"length to 1.1", "length", "1.1", [2]string{"Content-Length", "11"}, "hello world", false},
		{"chunked to 1.0", "chunked", "1.0", [2]string{"Connection", "close"}, "hello world", true},
		{"close-delimited to 1.0", "close", "1.0", [2]string{"Connection", "close"}, "hello world", true},
		{"length to 1.0", "length", "1.0", [2]string{"Content-Length", "11"}, "hello world", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMock(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) { upstream[tc.up](c) })
			addr := startProxy(t, reverse(t, m.url()))
			w := dial(t, addr)
			w.send("GET / HTTP/" + tc.client + "\r\nHost: x\r\n\r\n")
			h := w.head()
			if !hasField(h, tc.wantField[0], tc.wantField[1]) {
				t.Fatalf("head lacks %s: %s:\n%s", tc.wantField[0], tc.wantField[1], h)
			}
			if tc.client == "1.0" && hasName(h, "Transfer-Encoding") {
				t.Fatalf("transfer coding toward an HTTP/1.0 client:\n%s", h)
			}
			if tc.closes {
				if got := w.rawUntilClose(); got != tc.wantBody {
					t.Fatalf("body %q, want %q", got, tc.wantBody)
				}
				return
			}
			if got := w.readN(len(tc.wantBody)); got != tc.wantBody {
				t.Fatalf("body %q, want %q", got, tc.wantBody)
			}
			w.wantOpen()
		})
	}
}

func TestTrailersRelayed(t *testing.T) {
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request, _ string) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 42\r\n\r\n")
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
	resp, body := w.response("GET")
	if body != "hi" || resp.Trailer.Get("X-Sum") != "42" {
		t.Fatalf("body %q trailer %v", body, resp.Trailer)
	}
	if !hasField(m.lastHead(), "Te", "trailers") {
		t.Errorf("upstream not told TE: trailers:\n%s", m.lastHead())
	}
}

// TestRequestBodyReframed: a chunked request body goes upstream chunked
// (the transport's framing, computed from ContentLength -1), a sized one
// with its Content-Length; the client's Transfer-Encoding field never
// passes.
func TestRequestBodyReframed(t *testing.T) {
	var got []string
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, req *http.Request, head string) {
		b, _ := io.ReadAll(req.Body)
		got = append(got, fmt.Sprintf("%v %d %s", req.TransferEncoding, req.ContentLength, b))
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	if resp, _ := w.response("POST"); resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	w.send("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nwxyz")
	if resp, _ := w.response("PUT"); resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := []string{"[chunked] -1 abcde", "[] 4 wxyz"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
}

// TestAmbiguousFramingNotForwarded: dally's server refuses a request whose
// framing two parsers could read differently; the upstream never sees it.
func TestAmbiguousFramingNotForwarded(t *testing.T) {
	m := newMock(t, ok("x"))
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	raw := w.rawUntilClose()
	if !strings.HasPrefix(raw, "HTTP/1.1 400 ") {
		t.Fatalf("want 400, got %q", raw)
	}
	if _, _, total := m.stats(); total != 0 {
		t.Fatalf("upstream saw %d connections", total)
	}
}

// TestBodilessResponses: HEAD keeps the upstream's Content-Length with no
// body; 204 and 304 carry none either; the connection goes on.
func TestBodilessResponses(t *testing.T) {
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, req *http.Request, _ string) {
		switch req.URL.Path {
		case "/204":
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		case "/304":
			io.WriteString(c, "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n")
		default:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
		}
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	tests := []struct{ name, req, status, field string }{
		{"HEAD", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "200", "Content-Length: 11"},
		{"204", "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n", "204", ""},
		{"304", "GET /304 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"e\"\r\n\r\n", "304", "Etag: \"e\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.send(tc.req)
			h := w.head()
			if !strings.HasPrefix(h, "HTTP/1.1 "+tc.status+" ") || (tc.field != "" && !strings.Contains(h, "\r\n"+tc.field+"\r\n")) {
				t.Fatalf("head:\n%s", h)
			}
			if hasName(h, "Transfer-Encoding") {
				t.Fatalf("framing on a bodiless response:\n%s", h)
			}
			w.wantOpen() // no body bytes follow
		})
	}
}

// TestExpectContinue: the client's 100-continue is answered once the
// upstream asked for the body; the body reaches the upstream.
func TestExpectContinue(t *testing.T) {
	m := newMock(t, func(c net.Conn, _ *bufio.Reader, req *http.Request, _ string) {
		if req.Header.Get("Expect") == "100-continue" {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
	})
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if h := w.head(); !strings.HasPrefix(h, "HTTP/1.1 100 Continue\r\n") {
		t.Fatalf("want 100 Continue, got %q", h)
	}
	w.send("abcde")
	if resp, body := w.response("PUT"); resp.StatusCode != 200 || body != "abcde" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}
