package h1

import (
	"bytes"
	"math"
)

// TargetForm is the form of a request-target (RFC 9112 §3.2).
type TargetForm uint8

const (
	FormOrigin    TargetForm = iota // absolute-path [ "?" query ]
	FormAbsolute                    // absolute-URI, toward proxies
	FormAuthority                   // host:port, CONNECT only
	FormAsterisk                    // "*", OPTIONS only
)

// ConnTokens are the connection options a message lists in its Connection
// field lines (RFC 9110 §7.6.1), compared without case.
type ConnTokens struct {
	Close     bool // "close": the connection ends after this exchange
	KeepAlive bool // "keep-alive": HTTP/1.0 persistence (RFC 2068 §19.7.1)
	Upgrade   bool // "upgrade": the Upgrade field is hop-by-hop here
	Other     bool // some other option: it names a hop-by-hop field
}

// Request is a parsed request head. Byte slices alias the parsed buffer.
type Request struct {
	Method, Target []byte
	Form           TargetForm
	Major, Minor   int

	// Fields holds every field line in order, framing fields included.
	// Reset keeps its capacity: steady-state parsing allocates nothing.
	Fields []Field

	// Host is the Host field value, nil when absent (RFC 9112 §3.2: an
	// HTTP/1.1 request without Host, or any request with several, is a 400).
	// It may be empty but non-nil ("Host:" for a target without authority).
	Host []byte

	ContentLength    int64 // -1 when absent
	Chunked          bool  // Transfer-Encoding ends in chunked
	TransferEncoding bool  // a Transfer-Encoding field is present
	Conn             ConnTokens

	Expect100   bool // Expect: 100-continue
	ExpectOther bool // another expectation: 417 is the server's business

	Upgrade []byte // the first Upgrade field value, nil when absent

	te   teState
	hint scanHint
}

// Reset clears r for the next request, keeping the capacity of Fields.
func (r *Request) Reset() {
	f := r.Fields[:0]
	*r = Request{Fields: f, ContentLength: -1}
}

// ParseRequest parses a request head at the start of buf. It returns the
// number of bytes of the head, the final CRLF included (empty lines before
// the request line are counted too), or ErrNeedMore, or an *Error.
//
// After ErrNeedMore call again with the same bytes plus more, or call
// r.Reset first when the buffer is a different one. lim nil means
// DefaultLimits.
func ParseRequest(buf []byte, r *Request, lim *Limits) (n int, err error) {
	return parseRequest(buf, r, lim, true)
}

// parseRequest lets the corpus tests turn off the Host requirement: llhttp's
// cases test syntax and rarely carry a Host.
func parseRequest(buf []byte, r *Request, lim *Limits, requireHost bool) (int, error) {
	l := lim.orDefault()
	// r still holds what the previous call parsed: the fast path may use it.
	if handled, err := fastNeedMore(buf, r, &r.hint, &l); handled {
		if err != ErrNeedMore {
			r.Reset()
		}
		return 0, err
	}
	r.Reset()
	var h scanHint
	n, err := parseHead(buf, r, &h, &l, &r.Fields)
	if err == ErrNeedMore {
		r.hint = h
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	if err := r.finish(requireHost); err != nil {
		return 0, err
	}
	return n, nil
}

func (r *Request) startLine(line []byte) error {
	// request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return errRequestLine
	}
	r.Method = line[:sp]
	if !isToken(r.Method) {
		return errMethod
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 {
		// "GET /" is an HTTP/0.9 simple-request: not served.
		return errRequestLine
	}
	r.Target = rest[:sp]
	form, err := parseTarget(r.Method, r.Target)
	if err != nil {
		return err
	}
	r.Form = form
	r.Major, r.Minor, err = parseVersion(rest[sp+1:])
	return err
}

func (r *Request) partialStart(line []byte) error {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
		if err := r.startLine(line); err != nil {
			return err // the line is complete but for its LF
		}
		r.Method, r.Target = nil, nil
		return nil
	}
	i := 0
	for i < len(line) && isTchar[line[i]] {
		i++
	}
	if i == len(line) {
		return nil
	}
	if i == 0 || line[i] != ' ' {
		return errMethod
	}
	j := i + 1
	for j < len(line) && isTargetChar[line[j]] {
		j++
	}
	if j == len(line) {
		return nil
	}
	if j == i+1 || line[j] != ' ' {
		return errTarget
	}
	v := line[j+1:]
	if len(v) > 8 {
		return errVersion
	}
	return checkVersionPrefix(v)
}

func (r *Request) partialField(name, v []byte) error {
	return partialFraming(name, v, r.ContentLength, r.TransferEncoding, r.Host != nil)
}

// partialFraming refuses, before its line ends, a framing field that cannot
// become valid: Content-Length beside Transfer-Encoding, a Content-Length
// that differs from one seen, a second Host.
func partialFraming(name, v []byte, cl int64, te, host bool) error {
	switch {
	case equalFold(name, "content-length"):
		if te {
			return errCLAndTE
		}
		return partialCL(v, cl)
	case equalFold(name, "transfer-encoding"):
		if cl >= 0 {
			return errCLAndTE
		}
	case host && equalFold(name, "host"):
		return errManyHosts
	}
	return nil
}

// parseVersion reads HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
// Anything else is malformed (400); a well-formed version whose major is not
// 1 is 505. HTTP/1.x with x > 1 is served as HTTP/1.1 (RFC 9110 §6.2).
func parseVersion(v []byte) (major, minor int, err error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, 0, errVersion
	}
	major, minor = int(v[5]-'0'), int(v[7]-'0')
	if major != 1 {
		return major, minor, errVersionNotSup
	}
	return major, minor, nil
}

func (r *Request) field(name, value []byte) error {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			if r.Host != nil {
				return errManyHosts
			}
			if len(value) > 0 {
				if err := checkHostPort(value, false); err != nil {
					return errBadHost
				}
			}
			r.Host = value[:len(value):len(value)]
		}
	case 6:
		if equalFold(name, "expect") {
			parseExpect(value, r)
		}
	case 7:
		if equalFold(name, "upgrade") && r.Upgrade == nil {
			r.Upgrade = value[:len(value):len(value)]
		}
	case 10:
		if equalFold(name, "connection") {
			return parseConnection(value, &r.Conn)
		}
	case 14:
		if equalFold(name, "content-length") {
			if r.TransferEncoding {
				return errCLAndTE // as partialFraming: refused at its line, not at the head's end
			}
			return parseContentLength(value, &r.ContentLength)
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			if r.ContentLength >= 0 {
				return errCLAndTE
			}
			r.TransferEncoding = true
			return r.te.add(value)
		}
	}
	return nil
}

// finish applies the rules that need the whole head.
func (r *Request) finish(requireHost bool) error {
	if requireHost && r.Host == nil && r.Major == 1 && r.Minor >= 1 {
		return errNoHost // RFC 9112 §3.2
	}
	if !r.TransferEncoding {
		return nil
	}
	switch {
	case r.ContentLength >= 0:
		// RFC 9112 §6.1 lets a server process such a request as chunked and
		// then close; dally refuses it: it is the request-smuggling shape.
		return errCLAndTE
	case r.Minor == 0:
		// RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty
		// framing; 1.0 intermediaries may not have understood it.
		return errTE10
	}
	if err := r.te.requestErr(); err != nil {
		return err
	}
	r.Chunked = true
	return nil
}

func parseExpect(v []byte, r *Request) {
	// Expect = #expectation (RFC 9110 §10.1.1); only 100-continue is defined.
	for more := true; more; {
		var e []byte
		e, v, more = nextListElem(v)
		switch {
		case len(e) == 0:
		case equalFold(e, "100-continue"):
			r.Expect100 = true
		default:
			r.ExpectOther = true
		}
	}
}

// parseConnection reads Connection = #connection-option (RFC 9110 §7.6.1).
// Empty list elements are allowed (RFC 9110 §5.6.1); anything that is not a
// token is a 400: the "ERROR" column of the RFC 7230 §6 notes' table.
func parseConnection(v []byte, c *ConnTokens) error {
	for more := true; more; {
		var e []byte
		e, v, more = nextListElem(v)
		switch {
		case len(e) == 0:
		case !isToken(e):
			return errBadConnection
		case equalFold(e, "close"):
			c.Close = true
		case equalFold(e, "keep-alive"):
			c.KeepAlive = true
		case equalFold(e, "upgrade"):
			c.Upgrade = true
		default:
			c.Other = true
		}
	}
	return nil
}

// parseContentLength reads Content-Length = 1*DIGIT (RFC 9112 §6.2, RFC
// 9110 §8.6). A list of identical values ("5, 5", or the same value on
// several lines) is one value, as RFC 9110 §8.6 allows; differing values,
// signs, empty elements and overflow are 400.
func parseContentLength(v []byte, cur *int64) error {
	for more := true; more; {
		var e []byte
		e, v, more = nextListElem(v)
		if len(e) == 0 {
			return errBadCL
		}
		var n int64
		for _, c := range e {
			if c < '0' || c > '9' {
				return errBadCL
			}
			d := int64(c - '0')
			if n > (math.MaxInt64-d)/10 {
				return errBadCL
			}
			n = n*10 + d
		}
		if *cur >= 0 && *cur != n {
			return errDiffCL
		}
		*cur = n
	}
	return nil
}

// teState accumulates the transfer codings of all Transfer-Encoding lines
// (RFC 9112 §6.1), which form one list.
type teState struct {
	codings  int
	chunked  bool // chunked has been seen
	notFinal bool // a coding (or a second chunked) follows chunked
	known    bool // gzip, deflate or compress: known, not decoded by dally
	unknown  bool // a coding dally does not know
	bad      bool // not a transfer-coding at all
}

func (t *teState) add(v []byte) error {
	for more := true; more; {
		var e []byte
		e, v, more = nextListElem(v)
		if len(e) == 0 {
			continue
		}
		t.codings++
		// transfer-coding = token *( OWS ";" OWS transfer-parameter )
		name, params := e, []byte(nil)
		if i := bytes.IndexByte(e, ';'); i >= 0 {
			name, params = trimOWS(e[:i]), e[i:]
		}
		if !isToken(name) {
			t.bad = true
			continue
		}
		if t.chunked {
			t.notFinal = true
		}
		switch {
		case equalFold(name, "chunked"):
			if params != nil {
				t.bad = true // chunked takes no parameters
			}
			t.chunked = true
		case equalFold(name, "gzip"), equalFold(name, "x-gzip"),
			equalFold(name, "deflate"), equalFold(name, "compress"),
			equalFold(name, "x-compress"):
			t.known = true
		default:
			t.unknown = true
		}
	}
	return nil
}

// requestErr is RFC 9112 §6.1 and §6.3 for a request: chunked must be
// present, final and once (400); an unknown coding is 501; gzip, deflate and
// compress are understood but not decoded by dally: 501 too, so that a
// handler never sees a coded body it takes for plain bytes.
func (t *teState) requestErr() error {
	switch {
	case t.bad || t.codings == 0:
		return errBadTE
	case t.notFinal:
		return errChunkedNotEnd
	case t.unknown, t.known:
		return errUnknownTE
	case !t.chunked:
		return errChunkedNotEnd
	}
	return nil
}
