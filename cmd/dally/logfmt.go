package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// lineHandler is a slog.Handler for the access log: the same lines as
// slog's TextHandler and JSONHandler for the kinds of values the access
// log writes (string, int, duration, time), built into a pooled buffer
// and written once, with no reflection and no allocation. Measured in
// BenchmarkAccessLog.
type lineHandler struct {
	w    io.Writer
	json bool
}

func (h *lineHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *lineHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *lineHandler) WithGroup(string) slog.Handler            { return h }

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	if h.json {
		b = append(b, '{')
	}
	b = h.key(b, "time", true)
	// As slog's handlers: milliseconds in text, nanoseconds in JSON.
	if h.json {
		b = append(b, '"')
		b = r.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	} else {
		b = r.Time.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	b = h.key(b, "level", false)
	b = h.str(b, []byte(r.Level.String()))
	b = h.key(b, "msg", false)
	b = h.str(b, []byte(r.Message))
	r.Attrs(func(a slog.Attr) bool {
		b = h.key(b, a.Key, false)
		b = h.value(b, a.Value)
		return true
	})
	if h.json {
		b = append(b, '}')
	}
	b = append(b, '\n')
	_, err := h.w.Write(b)
	*bp = b
	lineBufs.Put(bp)
	return err
}

func (h *lineHandler) key(b []byte, k string, first bool) []byte {
	if h.json {
		if !first {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		return append(b, ':')
	}
	if !first {
		b = append(b, ' ')
	}
	b = append(b, k...)
	return append(b, '=')
}

func (h *lineHandler) value(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		if h.json {
			return strconv.AppendInt(b, int64(v.Duration()), 10) // as slog's JSONHandler: nanoseconds
		}
		return h.str(b, []byte(v.Duration().String()))
	case slog.KindString:
		return h.strString(b, v.String())
	}
	return h.strString(b, fmt.Sprint(v.Any()))
}

func (h *lineHandler) str(b, s []byte) []byte { return h.strString(b, string(s)) }

// strString writes s as slog does: JSON strings always quoted, text values
// quoted only when they hold a space, '=', '"' or a byte that is not
// printable.
func (h *lineHandler) strString(b []byte, s string) []byte {
	if h.json {
		return appendJSONString(b, s)
	}
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s for JSON (RFC 8259 §7); invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < ' ':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// bufferedOutput batches access-log lines: one write per 64 KiB or per
// flushEvery, not one system call per request (as nginx's access_log
// buffer= flush=). Close flushes.
type bufferedOutput struct {
	mu   sync.Mutex
	bw   *bufio.Writer // guarded by mu
	done chan struct{}
	wg   sync.WaitGroup
}

const flushEvery = 200 * time.Millisecond

func newBufferedOutput(w io.Writer) *bufferedOutput {
	o := &bufferedOutput{bw: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				o.Flush()
			case <-o.done:
				return
			}
		}
	}()
	return o
}

func (o *bufferedOutput) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bw.Write(b)
}

func (o *bufferedOutput) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bw.Flush()
}

// Close stops the flusher and flushes what is left.
func (o *bufferedOutput) Close() error {
	close(o.done)
	o.wg.Wait()
	return o.Flush()
}
