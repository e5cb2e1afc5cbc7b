package h1

import (
	"bytes"
	"strconv"
)

// Field is one field line. Name and Value alias the parsed buffer; Value has
// its surrounding whitespace (OWS, RFC 9110 §5.5) removed.
type Field struct {
	Name, Value []byte
}

// scanHint is what a parse remembers across ErrNeedMore returns, with the
// message state of the lines already parsed. It only saves work and lets
// errors show up before a head is complete: acceptance always comes from a
// full parse of the head from its first byte. A caller that breaks the
// "same bytes plus more, or Reset" contract can get an early error or a
// late one, never a message the full parse would refuse.
type scanHint struct {
	seen      int  // len(buf) at the last ErrNeedMore; 0: none
	lineStart int  // start of the line that was incomplete then
	headStart int  // first byte of the start line
	inStart   bool // the incomplete line is the start line
}

// skipEmptyLines skips the CRLFs a peer may send before a start line
// (RFC 9112 §2.2), at most maxEmptyLines of them.
func skipEmptyLines(buf []byte) (int, error) {
	pos := 0
	for n := 0; pos < len(buf); n++ {
		switch buf[pos] {
		case '\r':
			if pos+1 == len(buf) {
				return pos, ErrNeedMore
			}
			if buf[pos+1] != '\n' {
				return pos, errBareCR
			}
		case '\n':
			return pos, errBareLF
		default:
			return pos, nil
		}
		if n == maxEmptyLines {
			return pos, errEmptyLines
		}
		pos += 2
	}
	return pos, ErrNeedMore
}

// nextLine returns the line at pos without its CRLF and the offset after it.
// RFC 9112 §2.2 allows a recipient to accept a bare LF as a line end; dally
// does not: a bare LF is read as a line end by some parsers and as data by
// others, the classic request-smuggling gap. See docs/conformance.md.
func nextLine(buf []byte, pos int) (line []byte, next int, err error) {
	i := bytes.IndexByte(buf[pos:], '\n')
	if i < 0 {
		return nil, pos, ErrNeedMore
	}
	if i == 0 || buf[pos+i-1] != '\r' {
		return nil, pos, errBareLF
	}
	return buf[pos : pos+i-1], pos + i + 1, nil
}

// splitField splits a complete field line (RFC 9112 §5):
//
//	field-line = field-name ":" OWS field-value OWS
//
// No whitespace is allowed between name and colon (RFC 9112 §5.1: 400), and
// the value may hold no CR, LF, NUL or other control but HTAB (RFC 9110 §5.5).
func splitField(line []byte) (name, value []byte, err error) {
	i := 0
	for i < len(line) && isTchar[line[i]] {
		i++
	}
	if i == len(line) || i == 0 {
		return nil, nil, errFieldName
	}
	if line[i] != ':' {
		return nil, nil, badNameByte(line[i])
	}
	v := line[i+1:]
	for _, c := range v {
		if !isValueChar[c] {
			if c == '\r' {
				return nil, nil, errBareCR
			}
			return nil, nil, errFieldValue
		}
	}
	return line[:i], trimOWS(v), nil
}

func badNameByte(c byte) error {
	switch {
	case isOWS(c):
		return errSpaceColon
	case c == '\r':
		return errBareCR
	}
	return errFieldName
}

// checkPartialLine looks at an incomplete line for bytes that can never
// become valid, so that a garbage head is refused before it is complete.
// from is where the new bytes begin (the line start or later); a CR is only
// judged once the byte after it has arrived.
func checkPartialLine(buf []byte, lineStart, from int, start bool) error {
	line := buf[lineStart:]
	if from < lineStart {
		from = lineStart
	}
	if from > lineStart && buf[from-1] == '\r' {
		from-- // the CR that ended the last call now has a successor
	}
	if !start && len(line) > 0 && isOWS(line[0]) {
		return errObsFold
	}
	colon := start || bytes.IndexByte(buf[lineStart:from], ':') >= 0
	for i := from - lineStart; i < len(line); i++ {
		c := line[i]
		if c == '\r' && !colon {
			return errFieldName // the line would end before any colon
		}
		if c == '\r' {
			if i+1 < len(line) {
				return errBareCR
			}
			continue
		}
		if !colon {
			if c == ':' {
				if i == 0 {
					return errFieldName
				}
				colon = true
				continue
			}
			if !isTchar[c] {
				return badNameByte(c)
			}
			continue
		}
		if !isValueChar[c] {
			return errCtl
		}
	}
	return nil
}

// partialLimits applies the size limits to an incomplete head.
func partialLimits(buf []byte, h *scanHint, l *Limits) error {
	if h.inStart && len(buf)-h.lineStart > l.MaxRequestLine {
		return errURITooLong
	}
	if len(buf)-h.headStart > l.MaxHeadBytes {
		return errHeadTooLarge
	}
	return nil
}

// headParser is the part of a message a head parse fills in.
type headParser interface {
	startLine(line []byte) error
	field(name, value []byte) error
	// partialStart and partialField look at an incomplete line and fail
	// only when no continuation can make it valid.
	partialStart(prefix []byte) error
	partialField(name, valuePrefix []byte) error
}

// fastNeedMore handles the common re-call after ErrNeedMore where the new
// bytes complete no line: only the incomplete line needs a look, with the
// state p kept from the lines parsed by the previous call. It reports
// handled=false when a full parse is needed.
func fastNeedMore(buf []byte, p headParser, h *scanHint, l *Limits) (handled bool, err error) {
	prev := h.seen
	if prev == 0 || prev > len(buf) || h.lineStart > prev {
		return false, nil
	}
	if bytes.IndexByte(buf[prev:], '\n') >= 0 {
		return false, nil
	}
	// A CR at the line start may begin the final CRLF or an empty line:
	// let the full parse judge it.
	if len(buf) > h.lineStart && buf[h.lineStart] == '\r' {
		return false, nil
	}
	if err := partialLimits(buf, h, l); err != nil {
		return true, err
	}
	if h.inStart {
		if err := p.partialStart(buf[h.lineStart:]); err != nil {
			return true, err
		}
	} else {
		if err := checkPartialLine(buf, h.lineStart, prev, false); err != nil {
			return true, err
		}
		if err := partialFieldOf(buf[h.lineStart:], p); err != nil {
			return true, err
		}
	}
	h.seen = len(buf)
	return true, ErrNeedMore
}

// partialFieldOf hands an incomplete field line whose name is complete to
// p.partialField.
func partialFieldOf(line []byte, p headParser) error {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil
	}
	v := line[i+1:]
	if len(v) > 0 && v[len(v)-1] == '\r' {
		v = v[:len(v)-1]
	}
	return p.partialField(line[:i], v)
}

// parseHead parses a start line and field lines up to and including the
// empty line. It returns the bytes used. maxStart is the start-line limit
// (MaxRequestLine; responses use the same bound).
func parseHead(buf []byte, p headParser, h *scanHint, l *Limits, fields *[]Field) (int, error) {
	pos, err := skipEmptyLines(buf)
	if err != nil {
		return 0, err
	}
	h.headStart, h.lineStart, h.inStart = pos, pos, true
	line, next, err := nextLine(buf, pos)
	if err != nil {
		if err == ErrNeedMore {
			return 0, needMore(buf, p, h, l)
		}
		return 0, err
	}
	if len(line) > l.MaxRequestLine {
		return 0, errURITooLong
	}
	if err := p.startLine(line); err != nil {
		return 0, err
	}
	h.inStart = false
	pos = next
	for {
		h.lineStart = pos
		if pos >= len(buf) {
			return 0, needMore(buf, p, h, l)
		}
		switch c := buf[pos]; {
		case c == '\r':
			if pos+1 == len(buf) {
				return 0, needMore(buf, p, h, l)
			}
			if buf[pos+1] != '\n' {
				return 0, errBareCR
			}
			pos += 2
			if pos-h.headStart > l.MaxHeadBytes {
				return 0, errHeadTooLarge
			}
			return pos, nil
		case c == '\n':
			return 0, errBareLF
		case isOWS(c):
			// obs-fold (RFC 9112 §5.2) or whitespace after the start line
			// (RFC 9112 §2.2): both rejected.
			return 0, errObsFold
		}
		line, next, err = nextLine(buf, pos)
		if err != nil {
			if err == ErrNeedMore {
				return 0, needMore(buf, p, h, l)
			}
			return 0, err
		}
		if next-h.headStart > l.MaxHeadBytes {
			return 0, errHeadTooLarge
		}
		if len(*fields) >= l.MaxFields {
			return 0, errTooManyFields
		}
		name, value, err := splitField(line)
		if err != nil {
			return 0, err
		}
		*fields = append(*fields, Field{Name: name, Value: value})
		if err := p.field(name, value); err != nil {
			return 0, err
		}
		pos = next
	}
}

// needMore checks the incomplete line at h.lineStart, with the state of the
// lines before it, and records the hint for the next call.
func needMore(buf []byte, p headParser, h *scanHint, l *Limits) error {
	if err := partialLimits(buf, h, l); err != nil {
		return err
	}
	line := buf[h.lineStart:]
	if h.inStart {
		if err := p.partialStart(line); err != nil {
			return err
		}
	} else if len(line) > 0 && line[0] != '\r' { // a lone CR may begin the final CRLF
		if err := checkPartialLine(buf, h.lineStart, h.lineStart, false); err != nil {
			return err
		}
		if err := partialFieldOf(line, p); err != nil {
			return err
		}
	}
	h.seen = len(buf)
	return ErrNeedMore
}

// checkVersionPrefix checks a prefix of "HTTP/" DIGIT "." DIGIT. The status
// of a complete but unsupported version is left to parseVersion.
func checkVersionPrefix(v []byte) error {
	const pat = "HTTP/0.0"
	for i := 0; i < len(v) && i < len(pat); i++ {
		c := v[i]
		if pat[i] == '0' {
			if c < '0' || c > '9' {
				return errVersion
			}
		} else if c != pat[i] {
			return errVersion
		}
	}
	return nil
}

// partialCL checks the prefix of a Content-Length value against the value
// already seen (cur, -1 for none).
func partialCL(v []byte, cur int64) error {
	i := bytes.LastIndexByte(v, ',')
	if i >= 0 {
		if err := parseContentLength(v[:i], &cur); err != nil {
			return err
		}
		v = v[i+1:]
	}
	for len(v) > 0 && isOWS(v[0]) {
		v = v[1:]
	}
	digits := v
	for j, c := range v {
		if c < '0' || c > '9' {
			digits = v[:j]
			for _, c := range v[j:] {
				if !isOWS(c) {
					return errBadCL
				}
			}
			break
		}
	}
	if len(digits) == 0 {
		return nil
	}
	n := int64(-1)
	if err := parseContentLength(digits, &n); err != nil {
		return err
	}
	if cur >= 0 {
		for len(digits) > 1 && digits[0] == '0' {
			digits = digits[1:]
		}
		if !bytes.HasPrefix(strconv.AppendInt(nil, cur, 10), digits) {
			return errDiffCL
		}
	}
	return nil
}
