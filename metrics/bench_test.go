package metrics

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dallyhttp/dally/server"
)

// nopWriter is a ResponseWriter that does nothing, so the benchmarks time
// the middleware alone.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

var okBody = []byte("ok\n")

func benchHandler(b *testing.B, h http.Handler) {
	w := &nopWriter{h: http.Header{}}
	r, _ := http.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

var plain = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(okBody) })

// BenchmarkInstrumentHandler is the per-request cost of the middleware;
// compare with BenchmarkBareHandler.
func BenchmarkInstrumentHandler(b *testing.B) {
	benchHandler(b, InstrumentHandler(prometheus.NewRegistry(), plain))
}

func BenchmarkBareHandler(b *testing.B) { benchHandler(b, plain) }

func BenchmarkInstrumentHandlerParallel(b *testing.B) {
	h := InstrumentHandler(prometheus.NewRegistry(), plain)
	r, _ := http.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkScrape1000 is one scrape's collection with 1,000 idle keep-alive
// connections open (ConnsByState visits each).
func BenchmarkScrape1000(b *testing.B) {
	srv := &server.Server{Handler: plain}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 1000 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for deadline := time.Now().Add(10 * time.Second); srv.Stats().Open < 1000; {
		if time.Now().After(deadline) {
			b.Fatalf("%d open", srv.Stats().Open)
		}
		time.Sleep(10 * time.Millisecond)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewServerCollector("bench", srv))
	h := Handler(reg)
	r, _ := http.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := &nopWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
	}
}
