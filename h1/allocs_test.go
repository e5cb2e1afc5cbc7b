//go:build !race

package h1

import "testing"

const keepAliveGET = "GET /index.html?q=1 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Connection: keep-alive\r\n\r\n"

// The keep-alive path allocates nothing once Fields has grown.
func TestParseRequestAllocs(t *testing.T) {
	buf := []byte(keepAliveGET)
	var r Request
	if _, err := ParseRequest(buf, &r, nil); err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := ParseRequest(buf, &r, &lim); err != nil {
			t.Fatal(err)
		}
		if !r.Persistent(RoleServer) || r.IsHopByHop([]byte("X-Foo")) {
			t.Fatal("wrong decision")
		}
	})
	if allocs != 0 {
		t.Errorf("ParseRequest: %v allocs per run, want 0", allocs)
	}
	// Chunked decoding of a body already in memory allocates nothing either.
	body := []byte("5\r\nhello\r\n0\r\n\r\n")
	var d ChunkedDecoder
	allocs = testing.AllocsPerRun(1000, func() {
		d.Reset()
		src := body
		for {
			_, n, err := d.Next(src)
			src = src[n:]
			if err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("ChunkedDecoder: %v allocs per run, want 0", allocs)
	}
}
