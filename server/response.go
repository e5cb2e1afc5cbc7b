package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/internal/evloop"
	"golang.org/x/sys/unix"
)

// response is the http.ResponseWriter. Body bytes written before the head
// is committed wait in pending; a handler that returns with its whole body
// there gets a Content-Length. Otherwise the body is chunked to an HTTP/1.1
// client and close-delimited to an HTTP/1.0 one (RFC 9112 §6.1, §7).
type response struct {
	c    *conn
	w    *worker
	req  *http.Request
	body *body

	header      http.Header
	status      int
	wroteHeader bool
	committed   bool
	mode        h1.BodyKind
	declared    int64 // Content-Length the handler set; -1 none
	written     int64
	pending     []byte
	isHead      bool
	ka10        bool // HTTP/1.0 request: keep-alive must be said explicitly
	keepAlive   bool // the connection goes on after this response
	closeWhy    closeReason
	trailers    []string
	reqMajor    int
	reqMinor    int
	hijacked    bool
	panicked    bool
	// clField: the header held a valid Content-Length at WriteHeader
	// (commit need not look it up again; later changes to the header are
	// not the response's, as in net/http).
	clField bool
	err     error // a write failed: the connection is broken
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

func (rw *response) Header() http.Header { return rw.header }

func (rw *response) WriteHeader(code int) {
	if rw.hijacked {
		rw.c.srv.logf("dally: WriteHeader on a hijacked connection")
		return
	}
	if rw.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("dally: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != 101 {
		// Informational answers (103 Early Hints, a handler's own 100) go
		// out at once; the final status comes later.
		if code == 100 && rw.body != nil {
			rw.body.expect100 = false
		}
		c := rw.c
		c.out = h1.AppendStatusLine(c.out, 1, 1, code, "")
		c.out, _ = appendHeader(c.out, rw.header, nil, clUnknown)
		c.out = append(c.out, "\r\n"...)
		if err := c.flush(rw.w.wake); err != nil {
			rw.err = err
		}
		return
	}
	rw.wroteHeader = true
	rw.status = code
	if cl := first(rw.header, "Content-Length"); cl != "" {
		if n, ok := h1.ParseDecimal(cl); ok {
			rw.declared, rw.clField = n, true
		} else {
			delete(rw.header, "Content-Length")
		}
	}
}

func (rw *response) bodyAllowed() bool {
	return !rw.isHead && rw.status != 204 && rw.status != 304 && !(rw.status >= 100 && rw.status < 200)
}

func (rw *response) Write(p []byte) (int, error) {
	if rw.hijacked {
		return 0, http.ErrHijacked
	}
	if !rw.wroteHeader {
		rw.WriteHeader(200)
	}
	if rw.err != nil {
		return 0, rw.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !rw.bodyAllowed() {
		if rw.isHead {
			rw.written += int64(len(p))
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if rw.declared >= 0 && rw.written+int64(len(p)) > rw.declared {
		return 0, http.ErrContentLength
	}
	rw.written += int64(len(p))
	if !rw.committed {
		if len(rw.pending)+len(p) <= bufSize {
			if rw.pending == nil {
				rw.pending = rw.w.getBuf()[:0]
			}
			rw.pending = append(rw.pending, p...)
			return len(p), nil
		}
		rw.commit(false)
	}
	rw.appendBody(p)
	if len(rw.c.out) >= flushThreshold {
		if err := rw.c.flush(rw.w.wake); err != nil {
			rw.err = err
			return 0, err
		}
	}
	return len(p), nil
}

func (rw *response) WriteString(s string) (int, error) {
	// The conversion does not escape: Write copies.
	return rw.Write([]byte(s))
}

func (rw *response) appendBody(p []byte) {
	c := rw.c
	switch rw.mode {
	case h1.BodyChunked:
		c.out = h1.AppendChunkHeader(c.out, len(p))
		c.out = append(c.out, p...)
		c.out = append(c.out, "\r\n"...)
	case h1.BodyNone:
	default:
		c.out = append(c.out, p...)
	}
}

// commit decides framing and persistence and appends the head to the
// connection's output. final says the handler has returned, so a body
// entirely in pending has a known length.
func (rw *response) commit(final bool) {
	if rw.committed {
		return
	}
	rw.committed = true
	c, s := rw.c, rw.c.srv
	h := rw.header

	switch {
	case !rw.bodyAllowed():
		rw.mode = h1.BodyNone
		if rw.isHead && rw.declared < 0 && final && rw.written > 0 {
			rw.declared = rw.written
		}
	case rw.declared >= 0:
		rw.mode = h1.BodyLength
	case final:
		rw.mode = h1.BodyLength
		rw.declared = int64(len(rw.pending))
	default:
		rw.mode = h1.ResponseFraming(rw.reqMajor, rw.reqMinor, []byte(rw.req.Method), rw.status, -1)
	}
	if rw.mode == h1.BodyUntilClose {
		rw.keepAlive = false
		rw.closeWhy = reasonClose
	}

	if c.out == nil {
		c.out = rw.w.getBuf()[:0]
	}
	b := h1.AppendStatusLine(c.out, 1, 1, rw.status, "")
	// One pass over the handler's fields writes them and notes those the
	// server acts on.
	var trailers *[]string
	if rw.mode == h1.BodyChunked {
		trailers = &rw.trailers
	}
	var seen headerSeen
	cl := clAbsent
	if rw.clField {
		cl = clPresent
	}
	b, seen = appendHeader(b, h, trailers, cl)
	if !seen.date {
		b = append(b, "Date: "...)
		b = append(b, httpDate(rw.w.now)...)
		b = append(b, "\r\n"...)
	}
	if !seen.contentType && rw.mode != h1.BodyNone && len(rw.pending) > 0 {
		b = h1.AppendField(b, "Content-Type", http.DetectContentType(rw.pending))
	}

	// Persistence for this response (RFC 9112 §9.3, §9.6).
	if seen.close {
		rw.keepAlive = false
	}
	if rw.keepAlive {
		switch {
		case s.draining.Load():
			rw.keepAlive, rw.closeWhy = false, reasonDrain
		case s.press.closing.Load():
			// Saturated: load leaves at request boundaries (the draft, §9).
			rw.keepAlive, rw.closeWhy = false, reasonSaturated
		case s.MaxRequestsPerConn > 0 && int(c.nreq) >= s.MaxRequestsPerConn:
			rw.keepAlive, rw.closeWhy = false, reasonMaxRequests
		case rw.body != nil && !rw.body.done && (rw.body.expect100 || rw.body.remaining > DefaultMaxBodyDrain):
			// The handler left a body it never asked for (100-continue) or
			// too much of it to discard: close rather than read it.
			rw.keepAlive, rw.closeWhy = false, reasonClose
		}
	} else if rw.closeWhy == reasonNone {
		rw.closeWhy = reasonClose
	}

	switch rw.mode {
	case h1.BodyLength:
		b = h1.AppendContentLength(b, rw.declared)
	case h1.BodyChunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case h1.BodyNone:
		if rw.declared >= 0 && (rw.isHead || rw.status == 304) {
			b = h1.AppendContentLength(b, rw.declared)
		}
	}
	if rw.keepAlive {
		if rw.ka10 {
			b = append(b, "Connection: keep-alive\r\n"...)
		}
		b = h1.AppendKeepAlive(b, int(s.press.keepAlive.Load()), s.remainingRequests(int(c.nreq)))
	} else {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.out = b
	if len(rw.pending) > 0 {
		rw.appendBody(rw.pending)
	}
	if rw.pending != nil {
		rw.w.putBuf(rw.pending)
		rw.pending = nil
	}
}

// remainingRequests is the Keep-Alive max= value: how many more requests
// this connection will take (0 omits it).
func (s *Server) remainingRequests(done int) int {
	if s.MaxRequestsPerConn <= 0 {
		return 0
	}
	return s.MaxRequestsPerConn - done
}

// serverField reports the fields the server itself writes; a handler's
// copies are dropped so that framing and persistence are said once, by the
// server. (A switch: no hashing on every field of every response.)
func serverField(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length":
		return true
	}
	return false
}

// headerSeen is what appendHeader noticed among a handler's fields.
type headerSeen struct {
	date, contentType bool
	close             bool // Connection: close
}

// appendHeader writes a handler's fields. Values with CR or LF have them
// replaced by spaces (no response splitting), and invalid names are
// dropped. With trailers not nil (a chunked response), it collects the
// declared trailers there: the Trailer field's names, and fields named
// with http.TrailerPrefix.
// What appendHeader's caller knows of a Content-Length field in the header.
const (
	clUnknown = iota // look it up
	clAbsent
	clPresent
)

func appendHeader(b []byte, h http.Header, trailers *[]string, cl int) ([]byte, headerSeen) {
	var seen headerSeen
	// Most handlers set Content-Type, Content-Length or both and nothing
	// else. Found by lookup, those need no walk over the map: its
	// iterator alone (a random start, then the slots) costs more than
	// both lookups, ~380 instructions per response.
	if n := len(h); n <= 2 {
		ct, hasCT := h["Content-Type"]
		known := 0
		if hasCT {
			known++
		}
		if known < n {
			if cl == clUnknown {
				if _, ok := h["Content-Length"]; ok {
					cl = clPresent
				}
			}
			if cl == clPresent {
				known++ // the server writes its own
			}
		}
		if known == n {
			for _, v := range ct {
				b = appendField(b, "Content-Type", v)
			}
			seen.contentType = hasCT
			return b, seen
		}
	}
	for k, vs := range h {
		switch k {
		case "Date":
			seen.date = true
		case "Content-Type":
			seen.contentType = true
		case "Connection":
			seen.close = len(vs) > 0 && strings.EqualFold(vs[0], "close")
		case "Trailer":
			if trailers != nil {
				for _, v := range vs {
					*trailers = append(*trailers, splitComma(v)...)
				}
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if trailers != nil {
				*trailers = append(*trailers, k)
			}
			continue
		}
		if serverField(k) || !h1.ValidFieldName(k) {
			continue
		}
		for _, v := range vs {
			b = appendField(b, k, v)
		}
	}
	return b, seen
}

// appendField writes one of a handler's fields, its value's CR, LF and
// NUL bytes replaced by spaces (no response splitting).
func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	start := len(b)
	b = append(b, v...)
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, 0) >= 0 {
		for i := start; i < len(b); i++ {
			if b[i] == '\r' || b[i] == '\n' || b[i] == 0 {
				b[i] = ' '
			}
		}
	}
	return append(b, "\r\n"...)
}

// finish completes the response after the handler returns.
func (rw *response) finish() {
	rw.w.now = evloop.Now() // the Date, and what follows the request (conn.clock)
	if !rw.wroteHeader {
		rw.WriteHeader(200)
	}
	rw.commit(true)
	c := rw.c
	if rw.mode == h1.BodyChunked {
		c.out = append(c.out, "0\r\n"...)
		for _, k := range rw.trailers {
			name := strings.TrimPrefix(k, http.TrailerPrefix)
			for _, v := range rw.header[k] {
				if h1.ValidFieldName(name) {
					c.out = h1.AppendField(c.out, textprotoKey(name), v)
				}
			}
		}
		c.out = append(c.out, "\r\n"...)
	}
	if rw.mode == h1.BodyLength && rw.written < rw.declared {
		// The handler promised more than it wrote: the client must see the
		// message cut short, so the connection ends here.
		rw.keepAlive, rw.closeWhy = false, reasonError
	}
}

func textprotoKey(s string) string { return http.CanonicalHeaderKey(s) }

// first is h.Get for a key already in canonical form, without
// canonicalising it again on every response.
func first(h http.Header, key string) string {
	if vs := h[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// reset500 answers 500 after a panic that happened before anything was sent.
func (rw *response) reset500() {
	rw.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	if rw.pending != nil {
		rw.w.putBuf(rw.pending)
		rw.pending = nil
	}
	rw.wroteHeader, rw.status, rw.declared, rw.written = true, 500, -1, 0
	rw.keepAlive, rw.closeWhy = false, reasonError
	rw.Write([]byte("internal server error\n"))
}

func (rw *response) closeReason() closeReason {
	if rw.closeWhy == reasonNone {
		return reasonClose
	}
	return rw.closeWhy
}

// Flush sends what was written so far (committing the head with chunked or
// close-delimited framing when the length is not known).
func (rw *response) Flush() { rw.FlushError() }

// FlushError is Flush that reports a broken connection.
func (rw *response) FlushError() error {
	if rw.hijacked {
		return http.ErrHijacked
	}
	if !rw.wroteHeader {
		rw.WriteHeader(200)
	}
	rw.commit(false)
	if rw.err != nil {
		return rw.err
	}
	if err := rw.c.flush(rw.w.wake); err != nil {
		rw.err = err
		return err
	}
	return nil
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController: they
// replace the body and write timeouts for the rest of this request.
func (rw *response) SetReadDeadline(t time.Time) error {
	rw.c.readLimit = limitUntil(t)
	return nil
}

func (rw *response) SetWriteDeadline(t time.Time) error {
	rw.c.writeLimit = limitUntil(t)
	return nil
}

func limitUntil(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	if d := time.Until(t); d > 0 {
		return d
	}
	return time.Nanosecond
}

// Hijack hands the connection to the handler: the descriptor leaves the
// event loop and becomes a net.Conn; input already read comes first from
// the returned reader.
func (rw *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if rw.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := rw.c
	if rw.committed {
		if err := c.flush(rw.w.wake); err != nil {
			return nil, nil, err
		}
	}
	c.mu.Lock()
	if c.state != StateActive {
		c.mu.Unlock()
		return nil, nil, errClosed
	}
	c.setState(StateHijacked)
	c.timerFor = timerNone
	c.loop.Cancel(&c.timer)
	c.mu.Unlock()
	c.loop.Remove(c.fd, true)
	unix.SetNonblock(c.fd, false)
	f := os.NewFile(uintptr(c.fd), "dally-hijacked")
	nc, err := net.FileConn(f) // duplicates the descriptor
	f.Close()
	c.srv.forget(c, reasonNone)
	if err != nil {
		return nil, nil, err
	}
	rw.hijacked = true
	c.srv.stats.hijacked.Add(1)
	var rd io.Reader = nc
	if c.rend > c.rpos {
		rest := append([]byte(nil), c.rbuf[c.rpos:c.rend]...)
		rd = io.MultiReader(bytes.NewReader(rest), nc)
	}
	c.releaseBuffers()
	go c.srv.hook(c, StateHijacked)
	return nc, bufio.NewReadWriter(bufio.NewReader(rd), bufio.NewWriter(nc)), nil
}

// httpDate is the Date field value at loop clock now (0: read it),
// formatted once per second.
var dateCache atomic.Pointer[dateEntry]

type dateEntry struct {
	until int64 // loop clock at which the second ends
	val   string
}

func httpDate(now int64) string {
	if now == 0 {
		now = evloop.Now()
	}
	if d := dateCache.Load(); d != nil && now < d.until {
		return d.val
	}
	wall := time.Now()
	d := &dateEntry{until: now + int64(time.Second) - int64(wall.Nanosecond()), val: wall.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.val
}

var errBodyTooLarge = errors.New("dally: unread request body too large to discard")
