package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

// nopWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the middleware alone.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

var hello = []byte("hello\n")

func benchRequest() *http.Request {
	return &http.Request{Method: "GET", RequestURI: "/bytes/6", URL: &url.URL{Path: "/bytes/6"}, Host: "x", RemoteAddr: "127.0.0.1:50000", Header: http.Header{}}
}

// BenchmarkAccessLog: what the access log adds per request, text and JSON,
// to a handler that writes six bytes (go test -bench AccessLog -benchmem).
func BenchmarkAccessLog(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(hello) })
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"off", next},
		{"text", &accessLog{next: next, h: &lineHandler{w: io.Discard}}},
		{"json", &accessLog{next: next, h: &lineHandler{w: io.Discard, json: true}}},
		{"slog-text", &accessLog{next: next, h: newLogHandler(io.Discard, "text", nil)}},
		{"slog-json", &accessLog{next: next, h: newLogHandler(io.Discard, "json", nil)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w, r := &nopWriter{h: http.Header{}}, benchRequest()
			b.ReportAllocs()
			for b.Loop() {
				tc.h.ServeHTTP(w, r)
			}
		})
	}
}

// TestAccessLogWriter: status and bytes as the handler sent them, Flush
// passed through, and the wrapper unwraps for http.ResponseController.
func TestAccessLogWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      http.HandlerFunc
		status int
		bytes  int64
	}{
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}, 200, 0},
		{"body only", func(w http.ResponseWriter, r *http.Request) { w.Write(hello) }, 200, 6},
		{"status then body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404); w.Write(hello); w.Write(hello) }, 404, 12},
		{"1xx then final", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(103); w.WriteHeader(201) }, 201, 0},
		{"flush", func(w http.ResponseWriter, r *http.Request) { w.(http.Flusher).Flush() }, 200, 0},
		{"controller", func(w http.ResponseWriter, r *http.Request) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
		}, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec struct {
				status int64
				bytes  int64
			}
			h := recordHandler(func(r slog.Record) {
				r.Attrs(func(a slog.Attr) bool {
					switch a.Key {
					case "status":
						rec.status = a.Value.Int64()
					case "bytes":
						rec.bytes = a.Value.Int64()
					}
					return true
				})
			})
			(&accessLog{next: tc.h, h: h}).ServeHTTP(&flushWriter{nopWriter{h: http.Header{}}}, benchRequest())
			if rec.status != int64(tc.status) || rec.bytes != tc.bytes {
				t.Errorf("logged status %d bytes %d, want %d %d", rec.status, rec.bytes, tc.status, tc.bytes)
			}
		})
	}
}

type flushWriter struct{ nopWriter }

func (*flushWriter) Flush() {}

type recordHandler func(slog.Record)

func (recordHandler) Enabled(_ context.Context, _ slog.Level) bool { return true }
func (f recordHandler) Handle(_ context.Context, r slog.Record) error {
	f(r)
	return nil
}
func (f recordHandler) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f recordHandler) WithGroup(string) slog.Handler      { return f }

// TestLineHandlerMatchesSlog: the access log's handler writes what slog's
// own handlers would, byte for byte, for the values it logs.
func TestLineHandlerMatchesSlog(t *testing.T) {
	at := time.Date(2026, 12, 3, 16, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name  string
		attrs []slog.Attr
	}{
		{"plain", []slog.Attr{slog.String("method", "GET"), slog.String("target", "/a?b=c"), slog.Int("status", 200), slog.Int64("bytes", 12), slog.Duration("duration", 1500*time.Microsecond)}},
		{"quoting", []slog.Attr{slog.String("target", `/x "y" z`), slog.String("host", ""), slog.String("ctl", "a\x01b\tc\\"), slog.String("utf8", "héllo"), slog.String("bad", "a\xffb")}},
		{"other kinds", []slog.Attr{slog.Bool("ok", true), slog.Uint64("u", 7), slog.Int("neg", -3)}},
	} {
		for _, json := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/json=%v", tc.name, json), func(t *testing.T) {
				rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
				rec.AddAttrs(tc.attrs...)
				var got, want bytes.Buffer
				(&lineHandler{w: &got, json: json}).Handle(context.Background(), rec)
				format := "text"
				if json {
					format = "json"
				}
				newLogHandler(&want, format, nil).Handle(context.Background(), rec)
				if got.String() != want.String() {
					t.Errorf("got  %s\nwant %s", got.String(), want.String())
				}
			})
		}
	}
}

// TestAccessLogConnID: over a real server, requests on one keep-alive
// connection log the same conn id, and another connection's differ.
func TestAccessLogConnID(t *testing.T) {
	var mu sync.Mutex
	var ids []uint64
	h := recordHandler(func(r slog.Record) {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "conn" {
				mu.Lock()
				ids = append(ids, a.Value.Uint64())
				mu.Unlock()
			}
			return true
		})
	})
	srv := &server.Server{Handler: &accessLog{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(hello) }), h: h}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	get := func(c net.Conn, br *bufio.Reader) {
		t.Helper()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ar, br := bufio.NewReader(a), bufio.NewReader(b)
	get(a, ar)
	get(a, ar)
	get(b, br)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] == ids[2] {
		t.Fatalf("conn ids %v: want the first two equal and the third different", ids)
	}
}
