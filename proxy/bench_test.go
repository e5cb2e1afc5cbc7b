package proxy

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"testing"

	"github.com/dallyhttp/dally/server"
)

// BenchmarkProxyKeepAlive: one keep-alive client connection, GET / through
// the proxy to a dally server answering 13 bytes. Allocations are the whole
// process's: client side, proxy, upstream client, origin server.
func BenchmarkProxyKeepAlive(b *testing.B) {
	body := []byte("Hello, World!")
	origin := &server.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }),
		ErrorLog: log.New(io.Discard, "", 0), MaxRequestsPerConn: -1}
	oln, _ := net.Listen("tcp", "127.0.0.1:0")
	go origin.Serve(oln)
	defer origin.Close()
	p, _ := NewReverse("http://" + oln.Addr().String())
	srv := &server.Server{Handler: p, ConnState: p.ConnState, ErrorLog: log.New(io.Discard, "", 0), MaxRequestsPerConn: -1}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	get := func() {
		c.Write(req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	get()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get()
	}
}
