package h1

import "strconv"

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
	dst = strconv.AppendInt(dst, n, 10)
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
		dst = strconv.AppendInt(dst, int64(max), 10)
		return append(dst, '\r', '\n')
	}
	dst = append(dst, "Keep-Alive: timeout="...)
	dst = strconv.AppendInt(dst, int64(timeoutSeconds), 10)
	if max > 0 {
		dst = append(dst, ", max="...)
		dst = strconv.AppendInt(dst, int64(max), 10)
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
