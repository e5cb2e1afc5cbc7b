package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dallyhttp/dally/h1"
)

var (
	errHeadTooLarge = errors.New("client: response head too large")
	errUpgrade      = errors.New("client: 101 Switching Protocols is not supported")
	errCoded        = errors.New("client: response uses a transfer coding other than chunked")
)

// ErrResponseHeaderTimeout is wrapped by the error of a request whose
// response head did not arrive within Transport.ResponseHeaderTimeout.
var ErrResponseHeaderTimeout = errors.New("client: no response head within ResponseHeaderTimeout")

// try sends req once: a connection, its write turn, the head (and the body
// from its own goroutine), its read turn, the response head.
func (t *Transport) try(ctx context.Context, req *http.Request, rt *route, fresh bool, into http.Header, extra []Field) (*http.Response, attempt, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	a := attempt{
		method:         method,
		hasBody:        hasBody(req),
		canReplay:      req.GetBody != nil,
		idempotencyKey: hasValue(req.Header["Idempotency-Key"]), // Get, without canonicalising a canonical name
	}
	b := bodyPool.Get().(*body)
	rq := &b.rq
	rq.ctx, rq.req, rq.method, rq.into, rq.extra = ctx, req, method, into, extra
	expect := a.hasBody && hasToken(req.Header["Expect"], "100-continue")
	rq.pipe = idempotent(method) && !a.hasBody && !req.Close && !t.DisableKeepAlives
	rq.retryable = (idempotent(method) || a.idempotencyKey) && (!a.hasBody || a.canReplay)

	p := t.pool(rt.key)
	c, err := p.get(ctx, rq, rt, fresh)
	if err != nil {
		a.noConn = true
		return nil, a, err
	}
	a.reused = rq.reused
	t.stats.requests.Add(1)
	if rq.reused {
		t.stats.reused.Add(1)
	}
	if rq.pipelined {
		t.stats.pipelined.Add(1)
	}
	// Write turn.
	if rq.prevWrite != nil {
		select {
		case <-rq.prevWrite:
		case <-ctx.Done():
			rq.abandon(false)
			return nil, a, ctx.Err()
		}
	}
	if c.dead.Load() || c.broken.Load() {
		// The connection ended while this request waited: never written.
		rq.writeDone()
		rq.abandon(false)
		return nil, a, errNotAnswered
	}
	rq.owns.Store(true)
	if t.pipelineDepth() <= 1 {
		c.owner.Store(rq)
		rq.stop = afterFunc(ctx, c.cancelFn)
	} else {
		rq.stop = afterFunc(ctx, rq.onCancel)
	}
	// A request without a body on a connection with nothing buffered or
	// pipelined writes its head and waits for the answer in one step
	// (writeWait: no read that only says EAGAIN).
	wait := c.rc != nil && !a.hasBody && t.pipelineDepth() <= 1 && (c.buf == nil || c.r == c.w)
	err = t.writeHead(rq, rt, expect, wait)
	a.written = rq.written.Load()
	if err != nil {
		rq.writeDone()
		c.closeNC()
		return nil, a, t.fail(rq, err, true)
	}
	if a.hasBody {
		rq.wres = make(chan error, 1)
		if expect {
			rq.cont = make(chan bool, 1)
		}
		go rq.writeBody(c, req, expect)
	} else if req.Body != nil {
		req.Body.Close() // http.NoBody
	}
	rq.writeDone()
	// Read turn.
	if rq.prevRead != nil {
		rq.owns.Store(false)
		select {
		case <-rq.prevRead:
		case <-ctx.Done():
			rq.abandon(true)
			return nil, a, ctx.Err()
		}
		rq.owns.Store(true)
		if ctx.Err() != nil {
			c.closeNC()
			p.done(rq, false, closeCanceled)
			return nil, a, ctx.Err()
		}
		if c.broken.Load() || c.dead.Load() {
			p.done(rq, false, closeError)
			return nil, a, errNotAnswered
		}
	}
	resp, err := t.readResponse(b)
	a.bodyTouched = rq.bodyTouched.Load()
	a.written = rq.written.Load()
	a.gotResponse = rq.gotByte
	if err != nil {
		if errors.Is(err, errServerClosedIdle) && rq.reused && !rq.pipelined {
			// The idle race: the server's timeout is at most this idle time.
			p.mu.Lock()
			p.learnLocked(rq.idleFor, time.Now())
			p.mu.Unlock()
		}
		return nil, a, t.fail(rq, err, false)
	}
	return resp, a, nil
}

// afterFuncer is a context that schedules calls itself (dally's server's
// request context is one): the context package would use it too, behind
// a wrapper context of its own.
type afterFuncer interface {
	AfterFunc(func()) (stop func() bool)
}

// afterFunc runs f in its own goroutine once ctx is done, like
// context.AfterFunc; nil when ctx is never done. A context with its own
// AfterFunc is asked directly, which spares context.AfterFunc's wrapper
// (its allocations, and a Done channel the context would otherwise make).
func afterFunc(ctx context.Context, f func()) (stop func() bool) {
	if af, ok := ctx.(afterFuncer); ok {
		return af.AfterFunc(f)
	}
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, f)
}

// fail ends rq's turn after an I/O or protocol error and says which error
// the caller sees: the context's, when it is done.
func (t *Transport) fail(rq *reqState, err error, writing bool) error {
	rq.c.closeNC()
	if writing {
		// The read turn was never taken: wait for it so the requests
		// behind see the connection broken in order.
		if rq.prevRead != nil {
			go func() { <-rq.prevRead; rq.c.p.done(rq, false, closeError) }()
		} else {
			rq.c.p.done(rq, false, closeError)
		}
	} else {
		rq.c.p.done(rq, false, closeError)
	}
	if e := rq.ctx.Err(); e != nil {
		return e
	}
	return err
}

// writeHead writes the request line and fields (the body follows from
// writeBody). Framing follows RFC 9112 §6: Content-Length when known,
// chunked when not, nothing without a body (Content-Length: 0 for methods
// that expect one, as net/http does).
func (t *Transport) writeHead(rq *reqState, rt *route, expect, wait bool) error {
	req := rq.req
	var bp *[]byte
	var b []byte
	if wait {
		// writeWait writes the whole head before it reads into the
		// connection's buffer, which holds nothing now: the head is
		// made there, and no buffer of its own is taken.
		c := rq.c
		c.getBuf()
		c.r, c.w = 0, 0
		b = (*c.buf)[:0]
	} else {
		bp = bufPool.Get().(*[]byte)
		b = (*bp)[:0]
	}
	u := req.URL
	b = append(b, rq.method...)
	b = append(b, ' ')
	if rt.absolute {
		b = append(b, u.Scheme...)
		b = append(b, "://"...)
		b = append(b, u.Host...)
	}
	if u.Opaque != "" {
		b = append(b, u.Opaque...)
	} else {
		if p := u.EscapedPath(); p != "" {
			b = append(b, p...)
		} else {
			b = append(b, '/')
		}
		if u.ForceQuery || u.RawQuery != "" {
			b = append(b, '?')
			b = append(b, u.RawQuery...)
		}
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !h1.ValidFieldValue(host) {
		putHeadBuf(bp, b)
		return fmt.Errorf("client: invalid Host %q", host)
	}
	b = append(b, host...)
	b = append(b, '\r', '\n')
	for k, vs := range req.Header {
		switch fieldClass(k) {
		case fieldOurs:
			continue
		case fieldUnknown:
			if !h1.ValidFieldName(k) {
				putHeadBuf(bp, b)
				return fmt.Errorf("client: invalid header field name %q", k)
			}
		}
		for _, v := range vs {
			if !h1.ValidFieldValue(v) {
				putHeadBuf(bp, b)
				return fmt.Errorf("client: invalid header field value for %q", k)
			}
			b = h1.AppendField(b, k, v)
		}
	}
	for _, f := range rq.extra {
		switch fieldClass(f.Name) {
		case fieldOurs:
			continue
		case fieldUnknown:
			if !h1.ValidFieldName(f.Name) {
				putHeadBuf(bp, b)
				return fmt.Errorf("client: invalid header field name %q", f.Name)
			}
		}
		if !h1.ValidFieldValue(f.Value) {
			putHeadBuf(bp, b)
			return fmt.Errorf("client: invalid header field value for %q", f.Name)
		}
		b = h1.AppendField(b, f.Name, f.Value)
	}
	if rt.proxyAuth != "" && req.Header.Get("Proxy-Authorization") == "" {
		b = h1.AppendField(b, "Proxy-Authorization", rt.proxyAuth)
	}
	switch {
	case hasBody(req) && req.ContentLength > 0:
		b = h1.AppendContentLength(b, req.ContentLength)
	case hasBody(req):
		b = h1.AppendChunked(b)
		if len(req.Trailer) > 0 {
			b = append(b, "Trailer: "...)
			first := true
			for k := range req.Trailer {
				if !first {
					b = append(b, ", "...)
				}
				first = false
				b = append(b, k...)
			}
			b = append(b, '\r', '\n')
		}
	case rq.method == "POST" || rq.method == "PUT" || rq.method == "PATCH":
		b = append(b, "Content-Length: 0\r\n"...)
	}
	if t.DisableKeepAlives || req.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, '\r', '\n')
	var n int
	var err error
	if wait {
		n, err = rq.c.writeWait(b, t.ResponseHeaderTimeout, rq.now)
	} else {
		n, err = rq.c.nc.Write(b)
	}
	rq.written.Add(int64(n))
	putHeadBuf(bp, b)
	return err
}

func putHeadBuf(bp *[]byte, b []byte) {
	if bp != nil && cap(b) == bufSize {
		*bp = b[:bufSize]
		bufPool.Put(bp)
	}
}

// Classes of request field names (fieldClass).
const (
	fieldUnknown = iota // to be checked
	fieldOurs           // written by the transport itself: skipped
	fieldKnown          // a common canonical name: a token already
)

// fieldClass tells the names the transport writes itself from common
// names known to be tokens (a switch is cheaper than ValidFieldName's
// walk over each byte) and from the rest.
func fieldClass(k string) int {
	switch k {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Trailer":
		return fieldOurs
	case "Via", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "Forwarded",
		"User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Cookie", "Authorization",
		"Content-Type", "Referer", "Origin", "Cache-Control", "If-None-Match", "If-Modified-Since",
		"Te", "X-Request-Id", "Pragma", "Range", "Upgrade", "Expect", "Idempotency-Key":
		return fieldKnown
	}
	return fieldUnknown
}

func hasValue(vs []string) bool { return len(vs) > 0 && vs[0] != "" }

func hasToken(vs []string, tok string) bool {
	for _, v := range vs {
		for _, e := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(e), tok) {
				return true
			}
		}
	}
	return false
}

// readResponse reads the response head for rq (1xx heads skipped, 100
// releasing a waiting body) and builds the response around a streaming
// body.
func (t *Transport) readResponse(b *body) (*http.Response, error) {
	rq := &b.rq
	c := rq.c
	c.getBuf()
	if c.r < c.w {
		rq.gotByte = true // pipelined: the response is already here
	}
	if d := t.ResponseHeaderTimeout; d > 0 && !c.armed { // writeWait armed it before the write
		c.armHead(time.Now(), d) // left in place after the head: see conn.deadline
	}
	c.armed = false
	lim := t.Limits
	max := h1.DefaultLimits.MaxHeadBytes
	if lim != nil && lim.MaxHeadBytes > 0 {
		max = lim.MaxHeadBytes
	}
	r := &c.resp
	for {
		n, err := h1.ParseResponse((*c.buf)[c.r:c.w], r, lim)
		if err == h1.ErrNeedMore {
			m, rerr := c.fill(max)
			if m > 0 {
				rq.gotByte = true
			}
			if rerr != nil {
				var ne net.Error
				if errors.As(rerr, &ne) && ne.Timeout() {
					// Our own ResponseHeaderTimeout, not the server's close:
					// neither a lesson about its idle limit nor a reason to
					// send again (and wait as long once more).
					return nil, fmt.Errorf("%w: %v", ErrResponseHeaderTimeout, rerr)
				}
				if !rq.gotByte {
					return nil, fmt.Errorf("%w: %v", errServerClosedIdle, rerr)
				}
				if rerr == errHeadTooLarge {
					return nil, rerr
				}
				return nil, fmt.Errorf("client: reading response head: %w", rerr)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("client: malformed response: %w", err)
		}
		if r.Status >= 100 && r.Status < 200 {
			c.r += n
			if r.Status == 101 {
				return nil, errUpgrade
			}
			if r.Status == 100 && rq.cont != nil {
				select {
				case rq.cont <- true:
				default:
				}
			}
			continue
		}
		if r.Coded || (r.TransferEncoding && !r.Chunked) {
			// RFC 9112 §6.1: a coding other than chunked is ours to decode;
			// the client decodes none, so it cannot tell where the body ends
			// nor hand back its bytes: fail rather than return them raw.
			return nil, errCoded
		}
		c.r += n // the fields still alias the buffer: nothing reads into it before buildResponse
		return t.buildResponse(b, r), nil
	}
}

func (t *Transport) buildResponse(b *body, r *h1.Response) *http.Response {
	rq := &b.rq
	c := rq.c
	resp := &b.resp // one allocation with the body
	*resp = http.Response{
		StatusCode: r.Status,
		ProtoMajor: r.Major,
		ProtoMinor: r.Minor,
		Request:    rq.req,
		Header:     makeHeader(r, rq.into, rq.into != nil, &c.p.values, &c.vals),
	}
	resp.Proto = protoString(r.Major, r.Minor)
	resp.Status = statusString(r.Status, r.Reason)
	if rq.cont != nil {
		select {
		case rq.cont <- false: // a final answer: the body is not sent
		default:
		}
	}
	kind, n := h1.ResponseBody([]byte(rq.method), r)
	b.c, b.kind, b.remain = c, kind, n
	resp.ContentLength = -1
	switch kind {
	case h1.BodyNone:
		resp.ContentLength = 0
		if rq.method == http.MethodHead && r.ContentLength >= 0 {
			resp.ContentLength = r.ContentLength
		}
	case h1.BodyLength:
		resp.ContentLength = n
	case h1.BodyChunked:
		resp.TransferEncoding = chunkedTE
		c.dec.Reset()
		c.dec.Limits = t.Limits
		b.trailer = make(http.Header)
		resp.Trailer = b.trailer
		for _, k := range resp.Header["Trailer"] {
			for _, e := range strings.Split(k, ",") {
				if e = strings.TrimSpace(e); e != "" {
					b.trailer[http.CanonicalHeaderKey(e)] = nil
				}
			}
		}
	}
	// Persistence (RFC 9112 §9.3) as the client sees it, plus what the
	// client itself asked for.
	persist, why := r.Persistent(h1.RoleClient), closeServer
	switch {
	case t.DisableKeepAlives || rq.req.Close:
		persist, why = false, closeKeepAliveOff
	case r.Coded:
		persist = false // a coding we cannot frame past
	case kind == h1.BodyUntilClose:
		persist = false
	case persist && r.KeepAlive.Timeout == 0:
		persist, why = false, closeServerHint // the server keeps nothing idle
	}
	if rq.wres != nil && !rq.bodyEnd.Load() {
		// Answered before the body was all sent: the connection's input is
		// the server's to judge, ours to end (RFC 9112 §9.5).
		b.checkWriter = true
	}
	resp.Close = !persist
	p := c.p
	p.mu.Lock()
	c.served++
	if persist {
		if r.KeepAlive.Timeout > 0 {
			c.hint = r.KeepAlive.Timeout
		}
		if r.KeepAlive.Max >= 0 {
			c.left = max(0, r.KeepAlive.Max-(c.inflight-1))
		}
		if !c.proven {
			c.proven = true
			if t.pipelineDepth() > 1 {
				p.offerPipelineLocked(c)
			}
		}
	} else if !c.dead.Load() {
		c.dead.Store(true)
		c.why = why
	}
	p.mu.Unlock()
	b.reuse = persist
	b.why = why
	if kind == h1.BodyNone {
		resp.Body = noBody{b}
		b.finish(true)
	} else {
		resp.Body = b
	}
	return resp
}

var chunkedTE = []string{"chunked"}

func protoString(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "HTTP/1.1"
	case major == 1 && minor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

func statusString(code int, reason []byte) string {
	if st := statusLine(code); st != "" && string(reason) == st[4:] {
		return st // the common line, not a new string
	}
	if len(reason) == 0 {
		if s := http.StatusText(code); s != "" {
			return strconv.Itoa(code) + " " + s
		}
		return strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + string(reason)
}

// statusLine is the status of the common codes with their standard
// reasons ("" for others), by switch: no map, no StatusText.
func statusLine(code int) string {
	switch code {
	case 200:
		return "200 OK"
	case 204:
		return "204 No Content"
	case 301:
		return "301 Moved Permanently"
	case 302:
		return "302 Found"
	case 304:
		return "304 Not Modified"
	case 400:
		return "400 Bad Request"
	case 404:
		return "404 Not Found"
	case 500:
		return "500 Internal Server Error"
	case 503:
		return "503 Service Unavailable"
	}
	return ""
}
