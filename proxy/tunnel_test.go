package proxy

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMockDetectsPipelining: the check the binding tests rely on fails
// when two requests share a connection at once.
func TestMockDetectsPipelining(t *testing.T) {
	m := newMock(t, ok("x"))
	m.delay = 20 * time.Millisecond
	w := dial(t, m.addr())
	w.send("GET /1 HTTP/1.1\r\nHost: x\r\nX-Client: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nX-Client: b\r\n\r\n")
	w.response("GET")
	w.response("GET")
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.violations) != 1 {
		t.Fatalf("violations %v, want one", m.violations)
	}
}

// echoServer accepts connections and echoes each byte back.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// Not io.Copy: TCP to TCP it splices through pooled
				// pipes, which would count as leaked descriptors.
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 4096))
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func portOf(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConnectTunnel(t *testing.T) {
	target := echoServer(t)
	p := NewForward(portOf(t, target))
	addr := startProxy(t, p)
	w := dial(t, addr)
	// Bytes sent right behind the CONNECT head belong to the tunnel.
	w.send("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\nearly")
	if h := w.head(); !strings.HasPrefix(h, "HTTP/1.1 200 ") {
		t.Fatalf("head %q", h)
	}
	if got := w.readN(5); got != "early" {
		t.Fatalf("got %q", got)
	}
	w.send("ping")
	if got := w.readN(4); got != "ping" {
		t.Fatalf("got %q", got)
	}
	if s := p.Stats(); s.Tunnels != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Half-close: the client's FIN reaches the target, whose echo ends.
	w.c.(*net.TCPConn).CloseWrite()
	w.wantClosed()
	waitFor(t, "tunnel closed", func() bool { return p.Stats().Tunnels == 0 })
}

func TestConnectRefusals(t *testing.T) {
	target := echoServer(t)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	p := &Proxy{Forward: true, ConnectPorts: []int{portOf(t, target), portOf(t, closedAddr)},
		ForwardAuth: BasicAuth("ann", "secret")}
	addr := startProxy(t, p)
	auth := "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ann:secret")) + "\r\n"
	tests := []struct {
		name, req string
		status    int
	}{
		{"no credentials", "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n", 407},
		{"wrong credentials", "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\nProxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ann:no")) + "\r\n\r\n", 407},
		{"port not allowed", "CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: 127.0.0.1:25\r\n" + auth + "\r\n", 403},
		{"target refuses", "CONNECT " + closedAddr + " HTTP/1.1\r\nHost: " + closedAddr + "\r\n" + auth + "\r\n", 502},
		{"allowed", "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" + auth + "\r\n", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := dial(t, addr)
			w.send(tc.req)
			h := w.head()
			if !strings.HasPrefix(h, "HTTP/1.1 "+strconv.Itoa(tc.status)+" ") {
				t.Fatalf("want %d, got %q", tc.status, h)
			}
			if tc.status == 407 && !hasField(h, "Proxy-Authenticate", `Basic realm="dally proxy"`) {
				t.Fatalf("407 without Proxy-Authenticate: %q", h)
			}
		})
	}
}

func TestForwardAbsoluteForm(t *testing.T) {
	m := newMock(t, ok("fwd"))
	p := &Proxy{Forward: true, ForwardAuth: BasicAuth("ann", "secret")}
	addr := startProxy(t, p)
	w := dial(t, addr)
	w.send("GET http://" + m.addr() + "/p?q=1 HTTP/1.1\r\nHost: other.example\r\nProxy-Connection: keep-alive\r\n" +
		"Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ann:secret")) + "\r\n\r\n")
	resp, body := w.response("GET")
	if resp.StatusCode != 200 || body != "fwd" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	h := m.lastHead()
	if !strings.HasPrefix(h, "GET /p?q=1 HTTP/1.1\r\n") || !hasField(h, "Host", m.addr()) {
		t.Fatalf("upstream head:\n%s", h)
	}
	for _, name := range []string{"Proxy-Connection", "Proxy-Authorization", "X-Forwarded-For"} {
		if hasName(h, name) {
			t.Errorf("upstream got %s:\n%s", name, h)
		}
	}
	if !hasField(h, "Via", "1.1 dally") {
		t.Errorf("no Via:\n%s", h)
	}
	// Origin-form to a forward proxy is not a proxy request.
	w.send("GET /p HTTP/1.1\r\nHost: x\r\n" +
		"Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ann:secret")) + "\r\n\r\n")
	if resp, _ := w.response("GET"); resp.StatusCode != 400 {
		t.Fatalf("origin-form: %d", resp.StatusCode)
	}
}

// TestUpgradeTunnelled: an Upgrade request (WebSocket's handshake) is
// forwarded with its Connection: Upgrade, the 101 relayed, then bytes flow
// both ways.
func TestUpgradeTunnelled(t *testing.T) {
	m := newMock(t, func(c net.Conn, br *bufio.Reader, req *http.Request, head string) {
		if !hasField(head, "Connection", "Upgrade") || !hasField(head, "Upgrade", "websocket") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nKeep-Alive: timeout=1\r\nSec-WebSocket-Accept: abc\r\n\r\nhello-from-upstream")
		io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{br}, make([]byte, 4096))
		c.(*net.TCPConn).CloseWrite()
	})
	p := reverse(t, m.url())
	addr := startProxy(t, p)
	w := dial(t, addr)
	w.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n")
	h := w.head()
	if !strings.HasPrefix(h, "HTTP/1.1 101 ") || !hasField(h, "Upgrade", "websocket") ||
		!hasField(h, "Connection", "Upgrade") || !hasField(h, "Sec-WebSocket-Accept", "abc") || hasName(h, "Keep-Alive") {
		t.Fatalf("head:\n%s", h)
	}
	if got := w.readN(19); got != "hello-from-upstream" {
		t.Fatalf("got %q", got)
	}
	w.send("frame")
	if got := w.readN(5); got != "frame" {
		t.Fatalf("echo %q", got)
	}
	w.c.(*net.TCPConn).CloseWrite()
	w.wantClosed()
	if !hasField(m.lastHead(), "Sec-Websocket-Key", "k") {
		t.Errorf("upstream head:\n%s", m.lastHead())
	}
}

func TestUpgradeRefusedRelayed(t *testing.T) {
	m := newMock(t, ok("no upgrade here"))
	addr := startProxy(t, reverse(t, m.url()))
	w := dial(t, addr)
	w.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, body := w.response("GET")
	if resp.StatusCode != 200 || body != "no upgrade here" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	w.wantOpen()
}
