package client

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkGET: keep-alive GETs against a fixed-response server, dally's
// Transport beside http.Transport (fasthttp is in bench/clientbench).
//
//	go test -run x -bench GET -benchmem ./client
func BenchmarkGET(b *testing.B) {
	url := fixedServer(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"dally", &Transport{MaxConnsPerHost: 4}},
		{"dally-pipelined", &Transport{MaxConnsPerHost: 4, MaxPipelineDepth: 8}},
		{"nethttp", &http.Transport{MaxConnsPerHost: 4, MaxIdleConnsPerHost: 4, DisableCompression: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", url, nil)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 64)
				for pb.Next() {
					resp, err := bc.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.ReadFull(resp.Body, buf[:13])
					resp.Body.Close()
				}
			})
		})
	}
}
