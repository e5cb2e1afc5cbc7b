package server

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"strconv"
	"strings"

	"github.com/dallyhttp/dally/h1"
)

// handle serves the head in w.req: build the http.Request, run the handler,
// finish the response, and decide whether the connection goes on. It
// returns false when the worker must let go of the connection (it is then
// closing or closed).
func (c *conn) handle(w *worker) bool {
	s := c.srv
	hr := &w.req
	w.now = 0 // read again when the response is finished
	c.rpos += int32(w.headLen)
	if c.nreq < math.MaxInt32 { // past it, counted as unlimited
		c.nreq++
	}
	c.wSent, c.wWaited = 0, 0
	c.served.Store(c.nreq)

	// Checks that belong to the server rather than to the wire codec.
	if standardMethod(hr.Method) == "" && !s.methods[string(hr.Method)] {
		c.fail(w, &h1.Error{Status: 501, Reason: "method not implemented"})
		return false
	}
	// RFC 9110 §10.1.1: an expectation in an HTTP/1.0 request is ignored.
	http10 := hr.Major == 1 && hr.Minor == 0
	if hr.ExpectOther && !http10 {
		c.fail(w, &h1.Error{Status: 417, Reason: "unsupported expectation"})
		return false
	}
	req, ctx, err := c.newRequest(w, hr)
	if err != nil {
		c.fail(w, &h1.Error{Status: 400, Reason: "malformed request target"})
		return false
	}
	s.stats.requests.Add(1)

	persistent := h1.Persistent(hr.Major, hr.Minor, hr.Conn, h1.RoleServer)
	kind, length := h1.RequestBody(hr)
	// The ResponseWriter and its header map are the worker's, reused from
	// request to request: a handler may not use them after it returns
	// (http.ResponseWriter's contract), and the request, its header and
	// its body, which it may keep, are new each time.
	if w.header == nil {
		w.header = make(http.Header)
	} else {
		clear(w.header)
	}
	rw := &w.rw
	*rw = response{
		c: c, w: w, req: req,
		header:   w.header,
		reqMajor: hr.Major, reqMinor: hr.Minor,
		keepAlive: persistent,
		declared:  -1,
		isHead:    req.Method == "HEAD",
		ka10:      hr.Major == 1 && hr.Minor == 0,
	}
	var b *body
	if kind == h1.BodyNone || (kind == h1.BodyLength && length == 0) {
		req.Body = http.NoBody
	} else {
		b = &body{c: c, w: w, rw: rw, kind: kind, remaining: length, expect100: hr.Expect100 && !http10}
		req.Body = b
		rw.body = b
	}

	ctx.parent, ctx.conn = c.ctx, c
	cancel := func() { ctx.cancel(context.Canceled) }
	c.mu.Lock()
	c.cancel = ctx
	gone := c.hup
	c.mu.Unlock()
	if gone {
		cancel()
	}
	req = req.WithContext(ctx)
	w.tmpl = http.Request{} // the copy is the request; drop the template's references
	rw.req = req

	c.runHandler(rw, req)
	if b != nil {
		// A body kept past the handler reads as closed (as in net/http),
		// never through the next request's ResponseWriter; drain below
		// reads underneath.
		b.closed.Store(true)
	}
	s.press.completed.Add(1)

	c.mu.Lock()
	c.cancel = nil
	c.mu.Unlock()
	cancel()
	if ctx.blocking.Load() {
		ctx.endBlocking() // a wait the handler left open (no new one can begin now)
	}

	if rw.hijacked {
		return false
	}
	if rw.panicked {
		// The response may be cut short: close at once so that the client
		// sees a broken message rather than a well-formed partial one.
		c.flush(w.wake)
		c.closeNow(reasonError)
		return false
	}
	rw.finish()
	if rw.keepAlive && b != nil && !b.done && !b.drain() {
		rw.keepAlive = false
	}
	if rw.err != nil {
		why := reasonError
		if rw.err == errTimeout {
			why = reasonTimeout // WriteTimeout or MinWriteRate
		}
		c.closeNow(why)
		return false
	}
	if !rw.keepAlive {
		if err := c.flush(w.wake); err != nil {
			c.closeNow(reasonError)
			return false
		}
		c.closeInStages(rw.closeReason())
		return false
	}
	// Pipelined responses leave together: flush now only if no input
	// waits in the buffer, or the output has grown large. Input left is
	// nearly always the next request; when it is only part of a head,
	// readHead sends what is held before it waits for the rest, so
	// holding costs nothing, and looking for the head's end first cost
	// more than parsing it (bytes.Index, ~290 instructions per request).
	if len(c.out) >= flushThreshold || c.rend == c.rpos {
		if err := c.flush(w.wake); err != nil {
			c.closeNow(reasonError)
			return false
		}
	}
	return true
}

// flushThreshold bounds output held back while pipelined requests are served.
const flushThreshold = 32 << 10

func (c *conn) runHandler(rw *response, req *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			rw.panicked = true
			if v == http.ErrAbortHandler {
				return
			}
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("dally: panic serving %s: %v\n%s", c.remoteAddr(), v, buf)
			if !rw.committed {
				// Nothing was sent: answer 500 and close.
				rw.panicked = false
				rw.reset500()
			}
		}
	}()
	c.srv.handler().ServeHTTP(rw, req)
}

func (c *conn) remoteAddr() string {
	if c.remoteStr == "" && c.remote.IsValid() {
		c.remoteStr = c.remote.String()
	}
	return c.remoteStr
}

// headStrings hands out strings that share one copy of the request head,
// so that a request's target and field values cost one allocation in all.
type headStrings struct {
	head []byte // the head's bytes in the connection buffer
	s    string // one copy of them
}

// of returns b, a sub-slice of head, as a sub-string of the copy.
func (h *headStrings) of(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	off := cap(h.head) - cap(b) // b = head[off:...] when it aliases head
	if off < 0 || off+len(b) > len(h.s) {
		return string(b)
	}
	return h.s[off : off+len(b)]
}

// reqAlloc is what a request needs besides the http.Request itself and
// its header map, in one allocation: the URL, the context and the field
// values of a typical head.
type reqAlloc struct {
	ctx  reqContext
	url  url.URL
	vals [8]string
}

// maxDupScan is the most fields whose names newRequest compares with each
// other to find repeats; a longer head asks the map.
const maxDupScan = 32

// newRequest builds the http.Request from a parsed head (the head's bytes
// end at c.rpos). It copies what it keeps: the buffer is reused by the
// next request.
func (c *conn) newRequest(w *worker, hr *h1.Request) (*http.Request, *reqContext, error) {
	hs := headStrings{head: c.rbuf[int(c.rpos)-w.headLen : c.rpos]}
	hs.s = string(hs.head)
	target := hs.of(hr.Target)
	a := &reqAlloc{}
	u := &a.url
	switch hr.Form {
	case h1.FormAuthority:
		u.Host = target
	case h1.FormAsterisk:
		u.Path = "*"
	default:
		if err := parseTarget(u, target); err != nil {
			return nil, nil, err
		}
	}
	nf := len(hr.Fields)
	// Host goes to req.Host, not the map: a map sized for it would, for a
	// head of Host alone, get a slot group it never uses (~330 bytes).
	mapHint := nf
	if hr.Host != nil {
		mapHint--
	}
	// The worker's template is filled here and copied by WithContext, so a
	// request costs one http.Request, not two.
	req := &w.tmpl
	*req = http.Request{
		Method:     methodString(hr.Method, &hs),
		URL:        u,
		Proto:      protoString(hr.Major, hr.Minor),
		ProtoMajor: hr.Major,
		ProtoMinor: hr.Minor,
		Header:     make(http.Header, mapHint),
		RequestURI: target,
		RemoteAddr: c.remoteAddr(),
	}
	// One backing array for the values of every field; a name that repeats
	// grows its own slice. Repeats are found by comparing the (few) names,
	// so the map is written once per name and not read.
	vals := a.vals[:]
	if nf > len(a.vals) {
		vals = make([]string, nf)
	}
	// The fields whose names are in the map so far, by index: names that
	// h1 has checked are tokens, for which canonical keys are equal when
	// the names are equal but for ASCII case.
	var uniq [maxDupScan]uint8
	nu := 0
	var host string
	hasHost, hasTrailer := false, false
	for i, f := range hr.Fields {
		k := canonicalKey(f.Name)
		v := hs.of(f.Value)
		switch k {
		case "Host":
			// As in net/http, Host moves from the header map to req.Host
			// (the first one: h1 refuses a head with two).
			if !hasHost {
				host, hasHost = v, true
			}
			continue
		case "Trailer":
			hasTrailer = true
		}
		dup := false
		if nf > maxDupScan {
			_, dup = req.Header[k]
		} else {
			for _, j := range uniq[:nu] {
				if bytes.EqualFold(hr.Fields[j].Name, f.Name) {
					dup = true
					break
				}
			}
			if !dup {
				uniq[nu] = uint8(i)
				nu++
			}
		}
		if dup {
			req.Header[k] = append(req.Header[k], v)
			continue
		}
		vals[i] = v
		req.Header[k] = vals[i : i+1 : i+1]
	}
	// RFC 9112 §3.2.2: the authority of an absolute-form target is the host.
	if u.Host != "" {
		req.Host = u.Host
	} else if hasHost {
		req.Host = host
	}
	kind, n := h1.RequestBody(hr)
	switch kind {
	case h1.BodyChunked:
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		delete(req.Header, "Transfer-Encoding")
	case h1.BodyLength:
		req.ContentLength = n
	}
	req.Close = !h1.Persistent(hr.Major, hr.Minor, hr.Conn, h1.RoleServer)
	if hasTrailer {
		req.Trailer = http.Header{}
		for _, v := range req.Header["Trailer"] {
			for _, name := range splitComma(v) {
				req.Trailer[textproto.CanonicalMIMEHeaderKey(name)] = nil
			}
		}
	}
	return req, &a.ctx, nil
}

// parseTarget is url.ParseRequestURI into u, without its work and its
// allocation for the common target: an origin-form path of characters
// that need no escaping, with or without a query.
func parseTarget(u *url.URL, target string) error {
	if len(target) > 0 && target[0] == '/' {
		path, query, hasQuery := strings.Cut(target, "?")
		if plainPath(path) && !hasCTL(query) {
			*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
			return nil
		}
	}
	p, err := url.ParseRequestURI(target)
	if err != nil {
		return err
	}
	*u = *p
	return nil
}

// isPlainPathChar: unreserved characters, "/", and the sub-delims that
// url.URL's path escaping leaves alone, so that Path is the target's path
// as is and RawPath is empty.
var isPlainPathChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~/$&+,:;=@" {
		t[c] = true
	}
	return t
}()

func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !isPlainPathChar[p[i]] {
			return false
		}
	}
	return true
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// Common methods and field names are shared strings, so a typical request
// does not allocate them.

// standardMethod is the shared string of RFC 9110's methods and PATCH,
// which every server accepts (Server.methods holds ExtraMethods), or "".
func standardMethod(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	case "PATCH":
		return "PATCH"
	case "CONNECT":
		return "CONNECT"
	case "TRACE":
		return "TRACE"
	}
	return ""
}

func methodString(m []byte, hs *headStrings) string {
	if s := standardMethod(m); s != "" {
		return s
	}
	return hs.of(m)
}

func protoString(major, minor int) string {
	if major == 1 && minor == 1 {
		return "HTTP/1.1"
	}
	if major == 1 && minor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// commonKey returns the shared string for a common field name in
// canonical form (a switch: no hashing), or "".
func commonKey(k []byte) string {
	switch string(k) {
	case "Host":
		return "Host"
	case "User-Agent":
		return "User-Agent"
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Accept-Language":
		return "Accept-Language"
	case "Connection":
		return "Connection"
	case "Content-Length":
		return "Content-Length"
	case "Content-Type":
		return "Content-Type"
	case "Cookie":
		return "Cookie"
	case "Referer":
		return "Referer"
	case "Cache-Control":
		return "Cache-Control"
	case "If-None-Match":
		return "If-None-Match"
	case "If-Modified-Since":
		return "If-Modified-Since"
	case "Upgrade-Insecure-Requests":
		return "Upgrade-Insecure-Requests"
	case "Origin":
		return "Origin"
	case "Pragma":
		return "Pragma"
	case "Authorization":
		return "Authorization"
	case "Transfer-Encoding":
		return "Transfer-Encoding"
	case "Expect":
		return "Expect"
	case "Keep-Alive":
		return "Keep-Alive"
	case "Te":
		return "Te"
	case "Upgrade":
		return "Upgrade"
	case "Range":
		return "Range"
	case "X-Forwarded-For":
		return "X-Forwarded-For"
	case "X-Request-Id":
		return "X-Request-Id"
	case "Sec-Fetch-Mode":
		return "Sec-Fetch-Mode"
	case "Sec-Fetch-Site":
		return "Sec-Fetch-Site"
	case "Sec-Fetch-Dest":
		return "Sec-Fetch-Dest"
	case "Trailer":
		return "Trailer"
	case "X-Forwarded-Proto":
		return "X-Forwarded-Proto"
	case "X-Forwarded-Host":
		return "X-Forwarded-Host"
	case "Via":
		return "Via"
	case "Forwarded":
		return "Forwarded"
	case "X-Real-Ip":
		return "X-Real-Ip"
	case "Accept-Charset":
		return "Accept-Charset"
	case "Dnt":
		return "Dnt"
	case "Sec-Fetch-User":
		return "Sec-Fetch-User"
	}
	return ""
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey without an allocation
// for canonical spellings of common fields.
func canonicalKey(name []byte) string {
	var tmp [32]byte
	if len(name) <= len(tmp) {
		upper := true
		for i, ch := range name {
			if upper && 'a' <= ch && ch <= 'z' {
				ch -= 'a' - 'A'
			} else if !upper && 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			tmp[i] = ch
			upper = ch == '-'
		}
		if k := commonKey(tmp[:len(name)]); k != "" {
			return k
		}
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

func splitComma(v string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			t := trimOWS(v[start:i])
			if t != "" {
				out = append(out, t)
			}
			start = i + 1
		}
	}
	return out
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// errorResponse is the whole answer to a request the server refuses: the
// status, a short plain-text reason, and Connection: close.
func errorResponse(status int, reason string, retryAfter int) []byte {
	body := reason + "\n"
	b := h1.AppendStatusLine(nil, 1, 1, status, "")
	b = h1.AppendField(b, "Content-Type", "text/plain; charset=utf-8")
	b = h1.AppendField(b, "Content-Length", strconv.Itoa(len(body)))
	if retryAfter > 0 {
		b = h1.AppendField(b, "Retry-After", strconv.Itoa(retryAfter))
	}
	b = h1.AppendField(b, "Connection", "close")
	b = append(b, "\r\n"...)
	return append(b, body...)
}
