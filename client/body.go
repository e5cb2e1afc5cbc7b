package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/h1"
)

var errBodyClosed = errors.New("client: read on closed response body")

// body streams a response body from its connection; it also carries the
// request's state and the response (one allocation per try).
type body struct {
	rq     reqState
	resp   http.Response // the response returned, whose Body this is
	c      *conn
	kind   h1.BodyKind
	remain int64  // BodyLength: bytes left
	pend   []byte // BodyChunked: decoded bytes not yet returned (alias c.buf)

	trailer     http.Header
	reuse       bool        // the response allows another request after it
	why         closeReason // when !reuse
	checkWriter bool        // the request body was still being sent at the head

	mu   sync.Mutex // held by Read; Close takes it after unblocking a Read
	err  error      // sticky: io.EOF once done
	done bool       // the turn on the connection has ended
}

// noBody is the Body of a response without one; b is the block it lives
// in, for ReleaseResponse.
type noBody struct{ b *body }

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }
func (noBody) Close() error             { return nil }

// WriteBuffered is body.WriteBuffered: nothing to write, and that is all.
func (noBody) WriteBuffered(io.Writer) (int, bool, error) { return 0, true, nil }

// bodyPool recycles the blocks of responses handed back by
// ReleaseResponse (and only those: any other may still be referred to).
var bodyPool = sync.Pool{New: func() any { return new(body) }}

// ReleaseResponse hands back a response of this transport whose body has
// been read to its end or closed, and that the caller (a proxy, once it
// has relayed it) no longer refers to, nor to its Body: the transport may
// reuse its memory for a later response. Its Header map, Trailer map and
// Request remain the caller's. A response that may still be in use
// elsewhere (a request body's writer, a cancel in progress, pipelining),
// or whose body is not done, is left to the garbage collector.
func (t *Transport) ReleaseResponse(resp *http.Response) {
	var b *body
	switch rb := resp.Body.(type) {
	case *body:
		b = rb
	case noBody:
		b = rb.b
	}
	if b == nil || &b.resp != resp || !b.mu.TryLock() {
		return
	}
	rq := &b.rq
	ok := b.done && rq.wres == nil && !rq.cbStarted && rq.prevWrite == nil && rq.prevRead == nil &&
		rq.myWrite == nil && rq.myRead == nil && rq.c != nil && rq.c.t == t && t.pipelineDepth() <= 1
	b.mu.Unlock()
	if ok {
		*b = body{}
		bodyPool.Put(b)
	}
}

// WriteBuffered writes to w the part of the body that is already in the
// connection's buffer, straight from there (no copy into a buffer of the
// caller's), and reports whether that was the whole body: a proxy relays
// a small response without a buffer of its own, and reads the rest, if
// any, with Read. Only a body of known length is written this way; for
// others it writes nothing. An error is w's; the body is then unchanged
// but for the bytes written.
func (b *body) WriteBuffered(w io.Writer) (n int, all bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil || b.kind != h1.BodyLength {
		return 0, false, nil
	}
	c := b.c
	k := int(min(int64(c.w-c.r), b.remain))
	if k > 0 {
		n, err = w.Write((*c.buf)[c.r : c.r+k])
		c.r += n
		b.remain -= int64(n)
		if err != nil {
			return n, false, err
		}
	}
	if b.remain > 0 {
		return n, false, nil
	}
	b.err = io.EOF
	b.finish(true)
	return n, true, nil
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch b.kind {
	case h1.BodyLength:
		n, err = b.readLength(p)
	case h1.BodyChunked:
		n, err = b.readChunked(p)
	default:
		n, err = b.readUntilClose(p)
	}
	switch {
	case err == io.EOF:
		b.err = io.EOF
		b.finish(true)
	case err != nil:
		if e := b.rq.ctx.Err(); e != nil {
			err = e
		}
		b.err = err
		b.c.closeNC()
		b.finish(false)
	}
	return n, err
}

func (b *body) readLength(p []byte) (int, error) {
	c := b.c
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	var n int
	var err error
	if c.r < c.w {
		n = copy(p, (*c.buf)[c.r:c.w])
		c.r += n
	} else if len(p) >= bufSize/2 {
		c.noDeadline()
		n, err = c.nc.Read(p) // large reads skip the buffer
	} else {
		c.noDeadline()
		_, err = c.fill(bufSize)
		n = copy(p, (*c.buf)[c.r:c.w])
		c.r += n
	}
	b.remain -= int64(n)
	if b.remain == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // RFC 9112 §8: an incomplete message
	}
	return n, err
}

func (b *body) readChunked(p []byte) (int, error) {
	c := b.c
	for {
		if len(b.pend) > 0 {
			n := copy(p, b.pend)
			b.pend = b.pend[n:]
			return n, nil
		}
		data, used, err := c.dec.Next((*c.buf)[c.r:c.w])
		c.r += used
		if len(data) > 0 {
			n := copy(p, data)
			b.pend = data[n:]
			return n, nil
		}
		switch err {
		case nil:
			continue
		case io.EOF:
			b.setTrailers()
			return 0, io.EOF
		case h1.ErrNeedMore:
			c.noDeadline()
			m, rerr := c.fill(bufSize)
			if m == 0 && rerr != nil {
				if rerr == io.EOF {
					rerr = io.ErrUnexpectedEOF
				}
				return 0, rerr
			}
		default:
			return 0, fmt.Errorf("client: malformed chunked body: %w", err)
		}
	}
}

func (b *body) setTrailers() {
	for _, f := range b.c.dec.Trailers {
		k := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		b.trailer[k] = append(b.trailer[k], string(f.Value))
	}
}

func (b *body) readUntilClose(p []byte) (int, error) {
	c := b.c
	if c.r < c.w {
		n := copy(p, (*c.buf)[c.r:c.w])
		c.r += n
		return n, nil
	}
	// io.EOF here is the server's FIN: the end of the body (RFC 9112 §6.3
	// rule 8). A reset is an error, never a short success.
	c.noDeadline()
	return c.nc.Read(p)
}

// Close ends the body. An unread rest that is already buffered is
// consumed and the connection kept; otherwise the connection is closed
// (reading an unknown amount to save a connection is a bet; closing is not).
func (b *body) Close() error {
	if !b.mu.TryLock() {
		b.c.closeNC() // unblock a Read in progress
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.done {
		if b.err == io.EOF {
			b.err = errBodyClosed
		}
		return nil
	}
	b.err = errBodyClosed
	c := b.c
	switch b.kind {
	case h1.BodyLength:
		if int64(c.w-c.r) >= b.remain {
			c.r += int(b.remain)
			b.remain = 0
			b.finish(true)
			return nil
		}
	case h1.BodyChunked:
		b.pend = nil
		for {
			_, used, err := c.dec.Next((*c.buf)[c.r:c.w])
			c.r += used
			if err == io.EOF {
				b.setTrailers()
				b.finish(true)
				return nil
			}
			if err != nil {
				break
			}
		}
	}
	b.why = closeUnread
	b.c.closeNC()
	b.finish(false)
	return nil
}

// finish ends the request's turn on the connection. Called with b.mu held
// (or before the body is handed out).
func (b *body) finish(ok bool) {
	if b.done {
		return
	}
	b.done = true
	rq := &b.rq
	reuse := ok && b.reuse
	why := b.why
	if !ok && why != closeUnread {
		why = closeError
	}
	if b.checkWriter && reuse && !rq.waitWriter() {
		reuse = false
		why = closeError
		rq.c.closeNC() // unblocks the writer
	}
	rq.c.p.done(rq, reuse, why)
}

// writeBody sends the request body from its own goroutine, so the
// response can be read while it goes (a server may answer early). With
// Expect: 100-continue it first waits for 100, a final response, or
// ExpectContinueTimeout (RFC 9110 §10.1.1).
func (rq *reqState) writeBody(c *conn, req *http.Request, expect bool) {
	body := req.Body
	defer body.Close()
	if expect {
		d := c.t.ExpectContinueTimeout
		if d <= 0 {
			d = DefaultExpectContinueTimeout
		}
		tm := time.NewTimer(d)
		select {
		case ok := <-rq.cont:
			tm.Stop()
			if !ok {
				rq.wres <- errors.New("client: body not sent: the server answered first")
				return
			}
		case <-tm.C:
		}
	}
	rq.bodyTouched.Store(true)
	chunked := req.ContentLength <= 0
	// A body buffer of its own, larger than the read buffer: an upload
	// goes out in 32 KiB writes, an eighth of the system calls of 4 KiB.
	bp := uploadPool.Get().(*[]byte)
	defer uploadPool.Put(bp)
	buf := *bp
	const room = 18 // "ffffffffffff\r\n" before the data, CRLF after
	var sent int64
	var err error
	for {
		var n int
		if chunked {
			n, err = body.Read(buf[room : len(buf)-2])
		} else {
			n, err = body.Read(buf)
		}
		if n > 0 {
			if chunked {
				head := h1.AppendChunkHeader(buf[:0:room], n)
				start := room - len(head)
				copy(buf[start:], head)
				buf[room+n], buf[room+n+1] = '\r', '\n'
				if _, werr := rq.write(buf[start : room+n+2]); werr != nil {
					rq.wres <- werr
					return
				}
			} else {
				if sent+int64(n) > req.ContentLength {
					rq.wres <- fmt.Errorf("client: body longer than ContentLength %d", req.ContentLength)
					c.closeNC()
					return
				}
				if _, werr := rq.write(buf[:n]); werr != nil {
					rq.wres <- werr
					return
				}
			}
			sent += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			c.closeNC()
			rq.wres <- err
			return
		}
	}
	if chunked {
		last := h1.AppendLastChunk(buf[:0], trailerFields(req.Trailer))
		if _, werr := rq.write(last); werr != nil {
			rq.wres <- werr
			return
		}
	} else if sent != req.ContentLength {
		c.closeNC()
		rq.wres <- fmt.Errorf("client: body of %d bytes, ContentLength %d", sent, req.ContentLength)
		return
	}
	rq.bodyEnd.Store(true)
	rq.wres <- nil
}

// writerGrace bounds the wait, at the end of a response, for a request
// body still being sent: a server that read it all has let the last write
// finish already (microseconds); one that answered early without reading
// leaves it blocked, and the connection is closed.
const writerGrace = 100 * time.Millisecond

// waitWriter reports whether the body writer finished without error.
func (rq *reqState) waitWriter() bool {
	if rq.bodyEnd.Load() {
		return true
	}
	tm := time.NewTimer(writerGrace)
	defer tm.Stop()
	select {
	case err := <-rq.wres:
		rq.wres <- err // keep it for anyone else
		return err == nil
	case <-tm.C:
		return false
	}
}

func (rq *reqState) write(p []byte) (int, error) {
	n, err := rq.c.nc.Write(p)
	rq.written.Add(int64(n))
	return n, err
}

func trailerFields(h http.Header) []h1.Field {
	var fs []h1.Field
	for k, vs := range h {
		if !h1.ValidFieldName(k) {
			continue
		}
		for _, v := range vs {
			if h1.ValidFieldValue(v) {
				fs = append(fs, h1.Field{Name: []byte(k), Value: []byte(v)})
			}
		}
	}
	return fs
}

// makeHeader converts a response's fields to an http.Header (h, or a new
// map when nil) with at most two allocations beyond the map: one slice
// holding every value's entry, and one string holding the values that
// the host's last responses did not have (vc: a value equal to the cached
// one at its field's place is that string, shared; strings are immutable),
// and keys only for names that are neither canonical common names nor
// seen before. Into an empty map, a name is looked for among the names
// already added, not in the map: one map operation per field. relay
// (RoundTripHeader, RoundTripRelay) leaves the hop-by-hop fields out (RFC
// 9110 §7.6.1: Connection, the fields it names, and the fixed set
// h1.IsHopByHop knows), which a caller relaying the fields would remove
// anyway, and takes the slice of the connection's last relayed response
// again (*last) when every value is what it holds: no allocation at all.
func makeHeader(r *h1.Response, h http.Header, relay bool, vc *atomic.Pointer[valueCache], last *[]string) http.Header {
	fields := r.Fields
	fresh := len(h) == 0
	if h == nil {
		h = make(http.Header, len(fields))
	}
	var vals []string
	if relay && last != nil && len(*last) == len(fields) {
		vals = *last
		for i, f := range fields {
			if string(f.Value) != vals[i] {
				vals = nil
				break
			}
		}
	}
	if vals == nil {
		vals = newValues(fields, vc)
		if relay && last != nil {
			*last = vals
		}
	}
	var seen [16]string // the names added so far, while fresh
	ns := 0
	for i, f := range fields {
		v := vals[i]
		k, ok := commonKey(f.Name)
		if relay {
			if ok && !r.Conn.Other {
				// A common name's class is known; no other is named.
				if commonHopByHop(k) {
					continue
				}
			} else if hopByHop(f.Name, r) {
				continue
			}
		}
		if !ok {
			k = textproto.CanonicalMIMEHeaderKey(string(f.Name))
		}
		if fresh && ns < len(seen) {
			dup := false
			for _, s := range seen[:ns] {
				if s == k {
					dup = true
					break
				}
			}
			if dup {
				h[k] = append(h[k], v)
				continue
			}
			seen[ns] = k
			ns++
		} else if old := h[k]; old != nil {
			h[k] = append(old, v)
			continue
		}
		h[k] = vals[i : i+1 : i+1]
	}
	return h
}

// newValues is a slice of the fields' values, their strings the cached
// ones (vc) where equal, one new string for the rest; vc then holds these.
func newValues(fields []h1.Field, vc *atomic.Pointer[valueCache]) []string {
	vals := make([]string, len(fields))
	var old *valueCache
	if vc != nil {
		old = vc.Load()
	}
	total, hits := 0, 0
	for i, f := range fields {
		if old != nil && i < len(old.v) && string(f.Value) == old.v[i] {
			vals[i] = old.v[i]
			hits++
			continue
		}
		total += len(f.Value)
	}
	if hits == len(fields) {
		return vals
	}
	// One string for the values not cached; the cache then holds this
	// response's values, for the next.
	var sb strings.Builder
	sb.Grow(total)
	for i, f := range fields {
		if vals[i] == "" {
			sb.Write(f.Value)
		}
	}
	all := sb.String()
	off := 0
	for i, f := range fields {
		if vals[i] == "" && len(f.Value) > 0 {
			vals[i] = all[off : off+len(f.Value)]
			off += len(f.Value)
		}
	}
	if vc != nil && len(fields) > 0 {
		nc := new(valueCache)
		copy(nc.v[:], vals)
		vc.Store(nc)
	}
	return vals
}

// valueCache holds a host's last response field values by their place in
// the head (immutable once stored): servers send the same fields in the
// same order, most with the same values (Server, Content-Type, Date within
// its second, a Content-Length), so a response costs no string for them.
type valueCache struct {
	v [8]string
}

// hopByHop reports whether a response field belongs to the link only: the
// fixed set, or an option of Connection (never Content-Length, which
// frames the message, RFC 9110 §7.6.1).
func hopByHop(name []byte, r *h1.Response) bool {
	if h1.IsHopByHop(name) {
		return true
	}
	if !r.Conn.Other || len(name) == len("content-length") && strings.EqualFold(string(name), "content-length") {
		return false
	}
	for tok := range h1.ConnectionTokens(r.Fields) {
		if strings.EqualFold(string(tok), string(name)) {
			return true
		}
	}
	return false
}

// commonHopByHop reports whether a key of commonKey's is in the fixed
// hop-by-hop set (h1.IsHopByHop).
func commonHopByHop(k string) bool {
	return k == "Connection" || k == "Keep-Alive" || k == "Transfer-Encoding"
}

// commonKey maps a response field name as servers send it (canonical or
// lower case) to its canonical key without allocating.
func commonKey(name []byte) (string, bool) {
	switch string(name) {
	case "Content-Length", "content-length":
		return "Content-Length", true
	case "Content-Type", "content-type":
		return "Content-Type", true
	case "Date", "date":
		return "Date", true
	case "Server", "server":
		return "Server", true
	case "Connection", "connection":
		return "Connection", true
	case "Keep-Alive", "keep-alive":
		return "Keep-Alive", true
	case "Transfer-Encoding", "transfer-encoding":
		return "Transfer-Encoding", true
	case "Cache-Control", "cache-control":
		return "Cache-Control", true
	case "Etag", "ETag", "etag":
		return "Etag", true
	case "Last-Modified", "last-modified":
		return "Last-Modified", true
	case "Location", "location":
		return "Location", true
	case "Set-Cookie", "set-cookie":
		return "Set-Cookie", true
	case "Vary", "vary":
		return "Vary", true
	case "Expires", "expires":
		return "Expires", true
	case "Accept-Ranges", "accept-ranges":
		return "Accept-Ranges", true
	case "Content-Encoding", "content-encoding":
		return "Content-Encoding", true
	case "Age", "age":
		return "Age", true
	case "Trailer", "trailer":
		return "Trailer", true
	case "X-Content-Type-Options", "x-content-type-options":
		return "X-Content-Type-Options", true
	case "Strict-Transport-Security", "strict-transport-security":
		return "Strict-Transport-Security", true
	}
	return "", false
}

// uploadPool holds the buffers request bodies are written from (only while
// a body is being sent; an idle connection holds none).
var uploadPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
