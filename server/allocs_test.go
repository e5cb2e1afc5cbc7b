//go:build !race

package server

import (
	"bytes"
	"net"
	"net/http"
	"testing"
)

// keepAliveCycle sends one request on c and reads its whole response
// (known length), with no allocation on the client side.
func keepAliveCycle(t testing.TB, c net.Conn, req, want []byte, buf []byte) {
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < len(want) {
		n, err := c.Read(buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if !bytes.HasSuffix(buf[:got], []byte("Hello, World!")) {
		t.Fatalf("response %q", buf[:got])
	}
}

var helloBody = []byte("Hello, World!")

func helloHandler(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
	w.Write(helloBody)
}

// The keep-alive path's allocation budget, counted process-wide (server
// goroutines included) per request: the http.Request with its URL, header
// map and values, and the request context (the ResponseWriter and its
// header map are the worker's, reused).
func TestKeepAliveRequestAllocs(t *testing.T) {
	_, addr := startServer(t, &Server{MaxRequestsPerConn: -1}, http.HandlerFunc(helloHandler))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	// Learn the response length (the Date field keeps it constant).
	c.Write(req)
	n, _ := c.Read(buf)
	want := make([]byte, n)
	for i := 0; i < 100; i++ {
		keepAliveCycle(t, c, req, want, buf)
	}
	allocs := testing.AllocsPerRun(2000, func() { keepAliveCycle(t, c, req, want, buf) })
	t.Logf("%.1f allocations per keep-alive request", allocs)
	const budget = 8
	if allocs > budget {
		t.Fatalf("%.1f allocations per request, budget %d", allocs, budget)
	}
}
