package h1

import "bytes"

// KeepAliveParams are the parameters of a Keep-Alive field (RFC 2068
// §19.7.1.1, never standardised but sent by Apache, nginx and dally): how
// long the server keeps an idle connection and how many more requests it
// takes. A client closes before the timeout so that it never races the
// server's close.
type KeepAliveParams struct {
	Present bool
	Timeout int // seconds; -1 when absent
	Max     int // -1 when absent
}

// Response is a parsed response head. Byte slices alias the parsed buffer.
type Response struct {
	Major, Minor int
	Status       int
	Reason       []byte
	Fields       []Field // capacity kept by Reset

	ContentLength    int64 // -1 when absent
	Chunked          bool  // the body is chunked (chunked is the final coding)
	TransferEncoding bool  // a Transfer-Encoding field is present
	// Coded: transfer codings other than chunked are applied; dally does not
	// decode them, the client must (or fail).
	Coded     bool
	Conn      ConnTokens
	KeepAlive KeepAliveParams
	Upgrade   []byte // first Upgrade field value, nil when absent

	te   teState
	hint scanHint
}

// Reset clears r, keeping the capacity of Fields.
func (r *Response) Reset() {
	f := r.Fields[:0]
	*r = Response{Fields: f, ContentLength: -1, KeepAlive: KeepAliveParams{Timeout: -1, Max: -1}}
}

// ParseResponse parses a response head at the start of buf, like
// ParseRequest. A 1xx response is returned like any other: the caller reads
// the next head after it.
func ParseResponse(buf []byte, r *Response, lim *Limits) (n int, err error) {
	l := lim.orDefault()
	if handled, err := fastNeedMore(buf, r, &r.hint, &l); handled {
		if err != ErrNeedMore {
			r.Reset()
		}
		return 0, err
	}
	r.Reset()
	var h scanHint
	n, err = parseHead(buf, r, &h, &l, &r.Fields)
	if err == ErrNeedMore {
		r.hint = h
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	if err := r.finish(); err != nil {
		return 0, err
	}
	return n, nil
}

func (r *Response) startLine(line []byte) error {
	// status-line = HTTP-version SP status-code SP [ reason-phrase ]
	// (RFC 9112 §4). A line ending right after the code is accepted: the
	// reason is only ever ignored (RFC 9112 §4), and servers do send that.
	if len(line) < 12 || line[8] != ' ' {
		if len(line) >= 8 {
			if _, _, err := parseVersion(line[:8]); err != nil {
				return err
			}
		}
		return errStatusLine
	}
	var err error
	if r.Major, r.Minor, err = parseVersion(line[:8]); err != nil {
		return err
	}
	code := line[9:12]
	for _, c := range code {
		if c < '0' || c > '9' {
			return errStatusLine
		}
	}
	r.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if r.Status < 100 || r.Status > 599 {
		return errStatusLine
	}
	rest := line[12:]
	if len(rest) == 0 {
		return nil
	}
	if rest[0] != ' ' {
		return errStatusLine
	}
	// reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
	for _, c := range rest[1:] {
		if !isValueChar[c] {
			return errStatusLine
		}
	}
	r.Reason = rest[1:]
	return nil
}

func (r *Response) partialStart(line []byte) error {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		err := r.startLine(line[:len(line)-1])
		r.Reason = nil
		return err
	}
	if len(line) <= 8 {
		return checkVersionPrefix(line)
	}
	if _, _, err := parseVersion(line[:8]); err != nil {
		return err
	}
	if line[8] != ' ' {
		return errStatusLine
	}
	for i := 9; i < len(line) && i < 12; i++ {
		if line[i] < '0' || line[i] > '9' {
			return errStatusLine
		}
	}
	if len(line) > 12 && line[12] != ' ' {
		return errStatusLine
	}
	for i := 13; i < len(line); i++ {
		if !isValueChar[line[i]] {
			return errStatusLine
		}
	}
	return nil
}

func (r *Response) partialField(name, v []byte) error {
	return partialFraming(name, v, r.ContentLength, r.TransferEncoding, false)
}

func (r *Response) field(name, value []byte) error {
	switch len(name) {
	case 7:
		if equalFold(name, "upgrade") && r.Upgrade == nil {
			r.Upgrade = value[:len(value):len(value)]
		}
	case 10:
		switch {
		case equalFold(name, "connection"):
			return parseConnection(value, &r.Conn)
		case equalFold(name, "keep-alive"):
			parseKeepAlive(value, &r.KeepAlive)
		}
	case 14:
		if equalFold(name, "content-length") {
			return parseContentLength(value, &r.ContentLength)
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			r.TransferEncoding = true
			return r.te.add(value)
		}
	}
	return nil
}

func (r *Response) finish() error {
	if !r.TransferEncoding {
		return nil
	}
	switch {
	case r.ContentLength >= 0:
		// RFC 9112 §6.3 would let Transfer-Encoding win and close after;
		// dally refuses: "ought to be handled as an error".
		return errCLAndTE
	case r.Minor == 0:
		return errTE10 // RFC 9112 §6.1: faulty framing
	case r.te.bad || r.te.codings == 0:
		return errBadTE
	}
	// RFC 9112 §6.3: chunked final means chunked; otherwise the body runs to
	// the close.
	r.Chunked = r.te.chunked && !r.te.notFinal
	r.Coded = r.te.known || r.te.unknown
	return nil
}

// ParseKeepAlive parses a Keep-Alive field value: "timeout=N, max=M", in
// any order, with spaces, quoted values and other parameters tolerated.
func ParseKeepAlive(v []byte) KeepAliveParams {
	p := KeepAliveParams{Timeout: -1, Max: -1}
	parseKeepAlive(v, &p)
	return p
}

func parseKeepAlive(v []byte, p *KeepAliveParams) {
	p.Present = true
	for more := true; more; {
		var e []byte
		e, v, more = nextListElem(v)
		i := bytes.IndexByte(e, '=')
		if i < 0 {
			continue
		}
		name, val := trimOWS(e[:i]), trimOWS(e[i+1:])
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		n, ok := smallInt(val)
		if !ok {
			continue
		}
		switch {
		case equalFold(name, "timeout"):
			p.Timeout = n
		case equalFold(name, "max"):
			p.Max = n
		}
	}
}

// smallInt parses up to 9 decimal digits: enough for any timeout or count.
func smallInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
