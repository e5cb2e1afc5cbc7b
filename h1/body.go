package h1

// BodyKind says how a message body is delimited (RFC 9112 §6.3).
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // no body
	BodyLength                     // Content-Length bytes
	BodyChunked                    // chunked transfer coding
	BodyUntilClose                 // the body ends when the connection does
)

func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "none"
	case BodyLength:
		return "length"
	case BodyChunked:
		return "chunked"
	case BodyUntilClose:
		return "until-close"
	}
	return "BodyKind(?)"
}

// RequestBody says how the body of a parsed request is delimited: chunked,
// Content-Length, or none (RFC 9112 §6.3 rule 6: a request without either has
// no body). A Content-Length of 0 is BodyNone.
func RequestBody(r *Request) (BodyKind, int64) {
	switch {
	case r.Chunked:
		return BodyChunked, -1
	case r.ContentLength > 0:
		return BodyLength, r.ContentLength
	}
	return BodyNone, 0
}

// bodiless reports the responses that never have a body whatever their
// fields say (RFC 9112 §6.3 rules 1 and 2).
func bodiless(reqMethod []byte, status int) bool {
	switch {
	case string(reqMethod) == "HEAD":
		return true
	case status >= 100 && status < 200, status == 204, status == 304:
		return true
	case string(reqMethod) == "CONNECT" && status >= 200 && status < 300:
		return true // the connection becomes a tunnel
	}
	return false
}

// ResponseBody says how the body of a parsed response to a request with
// method reqMethod is delimited (RFC 9112 §6.3).
func ResponseBody(reqMethod []byte, r *Response) (BodyKind, int64) {
	switch {
	case bodiless(reqMethod, r.Status):
		return BodyNone, 0
	case r.Chunked:
		return BodyChunked, -1
	case r.TransferEncoding:
		return BodyUntilClose, -1 // chunked is not final: rule 4
	case r.ContentLength == 0:
		return BodyNone, 0
	case r.ContentLength > 0:
		return BodyLength, r.ContentLength
	}
	return BodyUntilClose, -1
}

// ResponseFraming chooses how a server frames a response of contentLength
// bytes (-1: unknown) to a request of version reqMajor.reqMinor. It never
// picks a transfer coding toward an HTTP/1.0 peer (RFC 9112 §6.1): a response
// of unknown length goes chunked to 1.1 and close-delimited to 1.0. HEAD,
// 1xx, 204, 304 and a 2xx to CONNECT carry no body.
func ResponseFraming(reqMajor, reqMinor int, reqMethod []byte, status int, contentLength int64) BodyKind {
	switch {
	case bodiless(reqMethod, status):
		return BodyNone
	case contentLength >= 0:
		return BodyLength
	case reqMajor > 1 || (reqMajor == 1 && reqMinor >= 1):
		return BodyChunked
	}
	return BodyUntilClose
}
