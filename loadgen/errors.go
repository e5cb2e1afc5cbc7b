package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/dallyhttp/dally/h1"
)

type errKind uint8

const (
	kindDial errKind = iota
	kindTimeout
	kindReset
	kindEOF
	kindProtocol
	kindOther
	kindStatus4xx
	kindStatus5xx
	numKinds
)

var kindNames = [numKinds]string{"dial", "timeout", "reset", "eof", "protocol", "other", "status_4xx", "status_5xx"}

// ErrClosedEarly: the server closed the connection with requests of a
// pipelined batch still unanswered (after a Connection: close response).
var ErrClosedEarly = errors.New("loadgen: connection closed with requests unanswered")

// Kind names the kind of a transport error as the report counts it:
// dial, timeout, reset, eof, protocol or other.
func Kind(err error) string { return kindNames[classify(err)] }

func classify(err error) errKind {
	var de *DialError
	var he *h1.Error
	var ne net.Error
	switch {
	case errors.As(err, &de):
		return kindDial
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return kindTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return kindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrClosedEarly),
		// net/http's errServerClosedIdle and its "unexpected EOF" wrappers.
		strings.Contains(err.Error(), "server closed"), strings.Contains(err.Error(), "EOF"):
		return kindEOF
	case errors.As(err, &he):
		return kindProtocol
	}
	return kindOther
}
