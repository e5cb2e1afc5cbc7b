package h1

import (
	"errors"
	"strconv"
)

// ErrNeedMore means the input ends before the syntax element being parsed
// does: call again with more bytes appended to the same buffer.
var ErrNeedMore = errors.New("h1: need more data")

// Error is a malformed or unsupported message. Status is the response a
// server sends for it: 400, 413, 414, 431, 501 or 505. Errors are returned as
// *Error; a client reading a response treats any *Error as a protocol error.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return "h1: " + strconv.Itoa(e.Status) + " " + e.Reason
}

func errf(status int, reason string) *Error { return &Error{Status: status, Reason: reason} }

// Errors returned often are allocated once: a flood of bad requests costs no
// garbage.
var (
	errBareLF        = errf(400, "bare LF (line must end in CRLF)")
	errBareCR        = errf(400, "bare CR")
	errCtl           = errf(400, "control character")
	errObsFold       = errf(400, "obs-fold or whitespace at start of field line")
	errFieldName     = errf(400, "invalid field name")
	errSpaceColon    = errf(400, "whitespace before colon")
	errFieldValue    = errf(400, "invalid field value")
	errRequestLine   = errf(400, "malformed request line")
	errMethod        = errf(400, "invalid method")
	errTarget        = errf(400, "invalid request target")
	errVersion       = errf(400, "malformed HTTP version")
	errVersionNotSup = errf(505, "HTTP version not supported")
	errStatusLine    = errf(400, "malformed status line")
	errURITooLong    = errf(414, "request line too long")
	errHeadTooLarge  = errf(431, "header section too large")
	errTooManyFields = errf(431, "too many header fields")
	errEmptyLines    = errf(400, "too many empty lines before start line")
	errNoHost        = errf(400, "HTTP/1.1 request without Host")
	errManyHosts     = errf(400, "more than one Host")
	errBadHost       = errf(400, "invalid Host")
	errBadCL         = errf(400, "invalid Content-Length")
	errDiffCL        = errf(400, "differing Content-Length values")
	errCLAndTE       = errf(400, "Content-Length with Transfer-Encoding")
	errTE10          = errf(400, "Transfer-Encoding in an HTTP/1.0 message")
	errBadTE         = errf(400, "invalid Transfer-Encoding")
	errChunkedNotEnd = errf(400, "chunked is not the final transfer coding")
	errUnknownTE     = errf(501, "transfer coding not implemented")
	errBadConnection = errf(400, "Connection is not a token list")
	errChunkSize     = errf(400, "invalid chunk size")
	errChunkTooLarge = errf(413, "chunk size too large")
	errChunkExt      = errf(400, "invalid chunk extension")
	errChunkExtLong  = errf(400, "chunk extension too long")
	errChunkCRLF     = errf(400, "chunk data not followed by CRLF")
	errTrailerLarge  = errf(431, "trailer section too large")
	errTrailerMany   = errf(431, "too many trailer fields")
)
