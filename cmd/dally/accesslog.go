package main

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dallyhttp/dally/server"
)

// accessLog writes one record per request after the handler returns:
// method, target, status, bytes, duration, remote, and the connection's id
// (server.ConnIDFromContext), which tells requests on one keep-alive
// connection apart. Cheap on purpose: the writer wrapper is pooled and the
// record goes straight to its handler (lineHandler), without maps or
// reflection.
type accessLog struct {
	next http.Handler
	h    slog.Handler
}

const hijacked = -1 // logWriter.status after Hijack

var logWriters = sync.Pool{New: func() any { return new(logWriter) }}

func (a *accessLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := logWriters.Get().(*logWriter)
	lw.ResponseWriter, lw.status, lw.bytes = w, 0, 0
	a.next.ServeHTTP(lw, r)
	status := lw.status
	switch status {
	case 0:
		status = http.StatusOK // nothing written: the server answers 200 with no body
	case hijacked:
		status = 0 // the handler took the connection: no response from the server
	}
	// A Record made here, not by slog.Logger, which would take the
	// caller's PC with runtime.Callers on every request.
	now := time.Now()
	rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("method", r.Method),
		slog.String("target", r.RequestURI),
		slog.Int("status", status),
		slog.Int64("bytes", lw.bytes),
		slog.Duration("duration", now.Sub(start)),
		slog.String("remote", r.RemoteAddr),
		slog.String("host", r.Host),
	)
	if id, ok := server.ConnIDFromContext(r.Context()); ok {
		rec.AddAttrs(slog.Uint64("conn", id))
	}
	a.h.Handle(context.Background(), rec)
	// A handler must not use w after it returns (net/http's rule too), so
	// the wrapper can be reused.
	lw.ResponseWriter = nil
	logWriters.Put(lw)
}

// logWriter counts what a handler writes. It passes Flush and Hijack
// through (the demo site's chunked pages flush, a forward proxy's CONNECT
// hijacks) and Unwrap for http.ResponseController.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		w.status = hijacked
		return h.Hijack()
	}
	return nil, nil, http.ErrNotSupported
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
