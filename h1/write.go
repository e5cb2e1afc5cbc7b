package h1

import (
	"math"
	"strconv"
)

// The Append functions write wire bytes to dst and return the extended
// slice. They reject nothing: the caller validates names and values it did
// not write itself (ValidFieldName, ValidFieldValue).

// AppendRequestLine appends "METHOD target HTTP/major.minor\r\n".
func AppendRequestLine(dst []byte, method, target string, major, minor int) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	dst = append(dst, ' ')
	dst = appendVersion(dst, major, minor)
	return append(dst, '\r', '\n')
}

// AppendStatusLine appends "HTTP/major.minor NNN reason\r\n"; an empty
// reason is replaced by StatusText(status) (and stays empty for a code
// without one, which RFC 9112 §4 allows).
func AppendStatusLine(dst []byte, major, minor, status int, reason string) []byte {
	if major == 1 && minor == 1 && reason == "" {
		if line := commonStatusLine(status); line != "" {
			return append(dst, line...)
		}
	}
	dst = appendVersion(dst, major, minor)
	dst = append(dst, ' ')
	if status < 100 || status > 999 {
		status = 500
	}
	dst = append(dst, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10), ' ')
	if reason == "" {
		reason = StatusText(status)
	}
	dst = append(dst, reason...)
	return append(dst, '\r', '\n')
}

// commonStatusLine is the whole HTTP/1.1 status line of the most frequent
// codes, written with one copy; "" for the others.
func commonStatusLine(status int) string {
	switch status {
	case 200:
		return "HTTP/1.1 200 OK\r\n"
	case 204:
		return "HTTP/1.1 204 No Content\r\n"
	case 206:
		return "HTTP/1.1 206 Partial Content\r\n"
	case 301:
		return "HTTP/1.1 301 Moved Permanently\r\n"
	case 302:
		return "HTTP/1.1 302 Found\r\n"
	case 304:
		return "HTTP/1.1 304 Not Modified\r\n"
	case 400:
		return "HTTP/1.1 400 Bad Request\r\n"
	case 404:
		return "HTTP/1.1 404 Not Found\r\n"
	case 500:
		return "HTTP/1.1 500 Internal Server Error\r\n"
	}
	return ""
}

func appendVersion(dst []byte, major, minor int) []byte {
	return append(dst, 'H', 'T', 'T', 'P', '/', byte('0'+major%10), '.', byte('0'+minor%10))
}

// AppendField appends "name: value\r\n".
func AppendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

// AppendFieldBytes is AppendField for byte slices (forwarding parsed fields).
func AppendFieldBytes(dst []byte, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

// AppendContentLength appends "Content-Length: n\r\n".
func AppendContentLength(dst []byte, n int64) []byte {
	dst = append(dst, "Content-Length: "...)
	dst = AppendDecimal(dst, n)
	return append(dst, '\r', '\n')
}

// AppendChunked appends "Transfer-Encoding: chunked\r\n".
func AppendChunked(dst []byte) []byte {
	return append(dst, "Transfer-Encoding: chunked\r\n"...)
}

// AppendFraming appends the field that frames a body of kind k: a
// Content-Length of n, Transfer-Encoding: chunked, or nothing (BodyNone,
// BodyUntilClose; the caller sends Connection: close with the latter).
func AppendFraming(dst []byte, k BodyKind, n int64) []byte {
	switch k {
	case BodyLength:
		return AppendContentLength(dst, n)
	case BodyChunked:
		return AppendChunked(dst)
	}
	return dst
}

// AppendConnection appends "Connection: close\r\n" or
// "Connection: keep-alive\r\n".
func AppendConnection(dst []byte, close bool) []byte {
	if close {
		return append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "Connection: keep-alive\r\n"...)
}

// AppendKeepAlive appends "Keep-Alive: timeout=N, max=M\r\n", max omitted
// when max <= 0. It advertises the idle timeout so clients close first.
func AppendKeepAlive(dst []byte, timeoutSeconds, max int) []byte {
	switch {
	case timeoutSeconds <= 0 && max <= 0:
		return dst // nothing to promise
	case timeoutSeconds <= 0:
		// No whole second can be promised (timeout=0 would read as "do
		// not reuse"): the count alone.
		dst = append(dst, "Keep-Alive: max="...)
		dst = AppendDecimal(dst, int64(max))
		return append(dst, '\r', '\n')
	}
	dst = append(dst, "Keep-Alive: timeout="...)
	dst = AppendDecimal(dst, int64(timeoutSeconds))
	if max > 0 {
		dst = append(dst, ", max="...)
		dst = AppendDecimal(dst, int64(max))
	}
	return append(dst, '\r', '\n')
}

// AppendChunkHeader appends the size line of an n-byte chunk: lower-case
// hex, no extensions. n must be > 0 (0 is the last chunk: AppendLastChunk).
func AppendChunkHeader(dst []byte, n int) []byte {
	dst = strconv.AppendUint(dst, uint64(n), 16)
	return append(dst, '\r', '\n')
}

// AppendChunk appends a whole chunk: size line, data, CRLF. Empty data
// appends nothing: an empty chunk would end the body.
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = AppendChunkHeader(dst, len(data))
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
}

// AppendLastChunk appends "0\r\n", the trailer fields and the final CRLF.
func AppendLastChunk(dst []byte, trailers []Field) []byte {
	dst = append(dst, '0', '\r', '\n')
	for _, f := range trailers {
		dst = AppendFieldBytes(dst, f.Name, f.Value)
	}
	return append(dst, '\r', '\n')
}

// AppendDecimal appends n in decimal: strconv.AppendInt, with the one- to
// four-digit numbers of lengths, timeouts and counts written directly.
func AppendDecimal(dst []byte, n int64) []byte {
	switch {
	case n < 0 || n >= 10000:
		return strconv.AppendInt(dst, n, 10)
	case n < 10:
		return append(dst, byte('0'+n))
	case n < 100:
		return append(dst, byte('0'+n/10), byte('0'+n%10))
	case n < 1000:
		return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	}
	return append(dst, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// ParseDecimal reads 1*DIGIT, the grammar of Content-Length (RFC 9110
// §8.6): no sign, no space, no overflow past int64.
func ParseDecimal(s string) (int64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
