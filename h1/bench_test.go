package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

const benchGET = "GET /index.html?q=1 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Connection: keep-alive\r\n\r\n"

// BenchmarkParseRequest compares h1 with net/http on the same keep-alive
// GET head; read the ratio from one run.
func BenchmarkParseRequest(b *testing.B) {
	buf := []byte(benchGET)
	b.Run("dally", func(b *testing.B) {
		var r Request
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseRequest(buf, &r, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nethttp", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
