package h1

import (
	"bytes"
	"io"
)

// Chunk-size bounds (RFC 9112 §7.1: chunk-size = 1*HEXDIG). 16 significant
// hex digits hold any int64; a size above math.MaxInt64 or with more digits
// is 413 (the chunk could never be accepted). Leading zeros carry nothing;
// more than maxChunkZeros of them is 400, so a size line stays short.
const (
	maxChunkDigits = 16
	maxChunkZeros  = 16
)

type chunkState uint8

const (
	chunkSize    chunkState = iota // expecting a chunk-size line
	chunkData                      // inside chunk data
	chunkDataEnd                   // expecting the CRLF after chunk data
	chunkTrailer                   // inside the trailer section
	chunkDone                      // last chunk and trailers consumed
)

// ChunkedDecoder decodes a chunked body (RFC 9112 §7.1) incrementally. The
// zero value is ready with DefaultLimits.
type ChunkedDecoder struct {
	// Limits bounds chunk extensions and trailers; nil: DefaultLimits.
	Limits *Limits

	// Trailers holds the trailer fields once Next has returned io.EOF, as
	// owned copies. Fields that frame or route a message (Content-Length,
	// Transfer-Encoding, Host, Connection and the other hop-by-hop fields,
	// Trailer, Content-Range...) are dropped: RFC 9110 §6.5.1 forbids them
	// in trailers, and merging them into the head would let a trailer
	// rewrite how the message was read.
	Trailers []Field

	state        chunkState
	remain       int64 // data bytes left in the current chunk
	trailerBytes int
	trailerCount int
}

// Reset prepares d for a new body, keeping Limits and Trailers' capacity.
func (d *ChunkedDecoder) Reset() {
	*d = ChunkedDecoder{Limits: d.Limits, Trailers: d.Trailers[:0]}
}

// Done reports whether the last chunk and the trailers have been consumed.
func (d *ChunkedDecoder) Done() bool { return d.state == chunkDone }

// Next decodes from src. It returns body bytes found in src (a sub-slice, no
// copy), the number of bytes of src consumed (framing and data; never more
// than len(src)), and:
//   - nil: data holds the next body bytes (possibly with framing consumed);
//   - ErrNeedMore: src ends inside a size line, a CRLF or the trailers;
//     discard the consumed bytes and call again with more;
//   - io.EOF: the body is complete; consumed counts the final CRLF;
//   - an *Error: the body is malformed (400, or 413 for an oversized chunk).
//
// Next returns at most one data slice per call: call again with
// src[consumed:] while it returns nil.
func (d *ChunkedDecoder) Next(src []byte) (data []byte, consumed int, err error) {
	l := d.Limits.orDefault()
	pos := 0
	for {
		switch d.state {
		case chunkDone:
			return nil, pos, io.EOF
		case chunkSize:
			n, size, err := parseChunkSize(src[pos:], &l)
			if err != nil {
				return nil, pos, err
			}
			pos += n
			if size == 0 {
				d.state = chunkTrailer
			} else {
				d.state, d.remain = chunkData, size
			}
		case chunkData:
			if pos == len(src) {
				return nil, pos, ErrNeedMore
			}
			k := len(src) - pos
			if int64(k) > d.remain {
				k = int(d.remain)
			}
			d.remain -= int64(k)
			if d.remain == 0 {
				d.state = chunkDataEnd
			}
			return src[pos : pos+k], pos + k, nil
		case chunkDataEnd:
			if len(src)-pos < 2 {
				if len(src)-pos == 1 && src[pos] != '\r' {
					return nil, pos, errChunkCRLF
				}
				return nil, pos, ErrNeedMore
			}
			if src[pos] != '\r' || src[pos+1] != '\n' {
				return nil, pos, errChunkCRLF
			}
			pos += 2
			d.state = chunkSize
		case chunkTrailer:
			n, err := d.trailerLine(src[pos:], &l)
			pos += n
			if err != nil {
				return nil, pos, err
			}
		}
	}
}

// parseChunkSize reads chunk-size [ chunk-ext ] CRLF. n is the bytes used.
func parseChunkSize(b []byte, l *Limits) (n int, size int64, err error) {
	i := 0
	for i < len(b) && b[i] == '0' {
		i++
	}
	zeros := i
	if zeros > maxChunkZeros {
		return 0, 0, errChunkSize
	}
	for ; i < len(b); i++ {
		v := unhex(b[i])
		if v < 0 {
			break
		}
		if i-zeros >= maxChunkDigits || size > (1<<63-1-int64(v))>>4 {
			return 0, 0, errChunkTooLarge
		}
		size = size<<4 | int64(v)
	}
	if i == len(b) {
		return 0, 0, ErrNeedMore
	}
	if i == 0 {
		return 0, 0, errChunkSize // no HEXDIG at all
	}
	// The rest of the line: chunk-ext then CRLF. Find the LF within the
	// extension bound only: a peer may not make us scan without end.
	rest := b[i:]
	lim := l.MaxChunkExt + 2
	j := bytes.IndexByte(rest[:min(len(rest), lim)], '\n')
	if j < 0 {
		if len(rest) >= lim {
			return 0, 0, errChunkExtLong
		}
		if err := checkChunkExt(rest, false); err != nil {
			return 0, 0, err
		}
		return 0, 0, ErrNeedMore
	}
	if j == 0 || rest[j-1] != '\r' {
		return 0, 0, errBareLF
	}
	if err := checkChunkExt(rest[:j-1], true); err != nil {
		return 0, 0, err
	}
	return i + j + 1, size, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// checkChunkExt checks (RFC 9112 §7.1.1):
//
//	chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-name = token
//	chunk-ext-val  = token / quoted-string
//
// Whitespace is allowed only before ";" and around "=": "A  \r\n" (BWS and
// no extension) is refused. When complete is false, e is a prefix of the
// line (maybe ending in its CR) and only bytes that cannot begin a valid
// continuation fail.
func checkChunkExt(e []byte, complete bool) error {
	if !complete && len(e) > 0 && e[len(e)-1] == '\r' {
		return checkChunkExt(e[:len(e)-1], true)
	}
	const (
		stStart = iota
		stAfterSemi
		stName
		stAfterName
		stAfterEq
		stToken
		stQuoted
		stQuotedEsc
		stAfterValue
	)
	st := stStart
	for _, c := range e {
		switch st {
		case stStart, stAfterValue:
			switch {
			case isOWS(c):
			case c == ';':
				st = stAfterSemi
			default:
				return errChunkExt
			}
		case stAfterSemi:
			switch {
			case isOWS(c):
			case isTchar[c]:
				st = stName
			default:
				return errChunkExt
			}
		case stName, stAfterName:
			switch {
			case isTchar[c] && st == stName:
			case isOWS(c):
				st = stAfterName
			case c == '=':
				st = stAfterEq
			case c == ';':
				st = stAfterSemi
			default:
				return errChunkExt
			}
		case stAfterEq:
			switch {
			case isOWS(c):
			case c == '"':
				st = stQuoted
			case isTchar[c]:
				st = stToken
			default:
				return errChunkExt
			}
		case stToken:
			switch {
			case isTchar[c]:
			case isOWS(c):
				st = stAfterValue
			case c == ';':
				st = stAfterSemi
			default:
				return errChunkExt
			}
		case stQuoted:
			switch {
			case c == '"':
				st = stAfterValue
			case c == '\\':
				st = stQuotedEsc
			case !isQdtext[c]:
				return errChunkExt
			}
		case stQuotedEsc:
			// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
			if !isValueChar[c] {
				return errChunkExt
			}
			st = stQuoted
		}
	}
	if !complete {
		return nil
	}
	if len(e) > 0 && isOWS(e[len(e)-1]) {
		return errChunkExt
	}
	switch st {
	case stStart, stName, stToken, stAfterValue:
		return nil
	}
	return errChunkExt
}

// trailerLine consumes one trailer line (or the final empty line).
func (d *ChunkedDecoder) trailerLine(b []byte, l *Limits) (int, error) {
	if len(b) == 0 {
		return 0, ErrNeedMore
	}
	switch b[0] {
	case '\r':
		if len(b) == 1 {
			return 0, ErrNeedMore
		}
		if b[1] != '\n' {
			return 0, errBareCR
		}
		if d.trailerBytes+2 > l.MaxTrailerBytes {
			return 0, errTrailerLarge
		}
		d.state = chunkDone
		return 2, nil
	case '\n':
		return 0, errBareLF
	case ' ', '\t':
		return 0, errObsFold
	}
	room := l.MaxTrailerBytes - d.trailerBytes
	j := bytes.IndexByte(b[:min(len(b), room+1)], '\n')
	if j < 0 {
		if len(b) > room {
			return 0, errTrailerLarge
		}
		if err := checkPartialLine(b, 0, 0, false); err != nil {
			return 0, err
		}
		return 0, ErrNeedMore
	}
	if j == 0 || b[j-1] != '\r' {
		return 0, errBareLF
	}
	name, value, err := splitField(b[:j-1])
	if err != nil {
		return 0, err
	}
	d.trailerCount++
	if d.trailerCount > l.MaxTrailerFields {
		return 0, errTrailerMany
	}
	d.trailerBytes += j + 1
	if !droppedTrailer(name) {
		// One allocation per kept trailer: trailers are rare, and owned
		// copies outlive the caller's buffer.
		c := make([]byte, len(name)+len(value))
		copy(c, name)
		copy(c[len(name):], value)
		d.Trailers = append(d.Trailers, Field{Name: c[:len(name):len(name)], Value: c[len(name):]})
	}
	return j + 1, nil
}

// droppedTrailer: fields a trailer must not carry (RFC 9110 §6.5.1: framing,
// routing, request modifiers, authentication, controls), dropped rather than
// refused because a well-behaved peer may forward them from elsewhere.
func droppedTrailer(name []byte) bool {
	if IsHopByHop(name) {
		return true
	}
	for _, s := range [...]string{"content-length", "host", "trailer",
		"content-range", "content-type", "content-encoding", "expect",
		"authorization", "proxy-authorization", "set-cookie", "cookie",
		"cache-control", "max-forwards", "range", "if-match",
		"if-none-match", "if-modified-since", "if-unmodified-since", "if-range"} {
		if equalFold(name, s) {
			return true
		}
	}
	return false
}
