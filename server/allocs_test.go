//go:build !race

package server

import (
	"bytes"
	"net"
	"net/http"
	"testing"
	"unsafe"
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
// goroutines included) per request: the head's strings, the http.Request,
// its header map (two: the map and its slots), one block with the URL,
// the context and the field values (reqAlloc), and the handler's own
// slice (the ResponseWriter and its header map are the worker's, reused).
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
	const budget = 6
	if allocs > budget {
		t.Fatalf("%.1f allocations per request, budget %d", allocs, budget)
	}
}

// BenchmarkPipelined16 is the server's per-request cost with sixteen
// requests per write over one loopback connection (the client side reads
// with no allocation): go test -run x -bench Pipelined16 -benchmem ./server
// (ns/op and allocs/op are per request; the allocation count includes the
// handler's own).
func BenchmarkPipelined16(b *testing.B) {
	_, addr := startServer(b, &Server{MaxRequestsPerConn: -1}, http.HandlerFunc(helloHandler))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	one := []byte("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 64<<10)
	c.Write(one)
	n, _ := c.Read(buf)
	respLen := n
	const depth = 16
	batch := bytes.Repeat(one, depth)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < depth*respLen; {
			n, err := c.Read(buf[got:])
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// An idle connection is its conn struct (no goroutine, no buffer), so the
// struct's size class is most of the idle-memory figure (bench/run idlemem:
// 962 bytes of RSS per idle connection at 19,000, with the struct at 416).
// A field that pushes it to the next class (448) costs ~60 bytes of RSS per
// idle connection: pack it with the small fields instead.
func TestConnStructSizeClass(t *testing.T) {
	const budget = 416
	if n := unsafe.Sizeof(conn{}); n > budget {
		t.Fatalf("conn is %d bytes, budget %d (a size class)", n, budget)
	}
}
