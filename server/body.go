package server

import (
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/internal/evloop"
	"golang.org/x/sys/unix"
)

// body is a request body streamed from the connection. The server reads the
// socket only when the handler reads, so a handler that does not keep up
// closes the client's TCP window (flow control).
type body struct {
	c         *conn
	w         *worker
	rw        *response
	kind      h1.BodyKind
	remaining int64 // BodyLength: bytes still to come
	dec       h1.ChunkedDecoder
	pend      []byte // decoded chunk data not yet handed out (aliases c.rbuf)
	expect100 bool   // 100 Continue is owed before the first read
	done      bool
	err       error
	closed    atomic.Bool   // Close, or the handler returned: also read by a goroutine the handler left behind
	got       int64         // bytes read from the socket for this body
	waited    time.Duration // time spent waiting for the client to send more
}

var errBodyClosed = errors.New("http: invalid Read on closed Body")

func (b *body) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyClosed
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.expect100 {
		b.expect100 = false
		if !b.rw.committed {
			c := b.c
			c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
			if err := c.flush(b.w.wake); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	n, err := b.read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *body) read(p []byte) (int, error) {
	c := b.c
	switch b.kind {
	case h1.BodyLength:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		if c.rend == c.rpos {
			// Nothing buffered: read straight into the handler's slice.
			c.rpos, c.rend = 0, 0
			n, err := b.readDirect(p)
			if err != nil {
				return 0, err
			}
			return b.took(n), nil
		}
		n := copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += int32(n)
		return b.took(n), nil
	case h1.BodyChunked:
		for len(b.pend) == 0 {
			data, used, err := b.dec.Next(c.rbuf[c.rpos:c.rend])
			c.rpos += int32(used)
			if err == io.EOF {
				b.done = true
				b.setTrailers()
				return 0, io.EOF
			}
			if len(data) > 0 {
				b.pend = data
				break
			}
			if err != nil && err != h1.ErrNeedMore {
				b.c.srv.stats.badRequests.Add(1)
				b.rw.keepAlive, b.rw.closeWhy = false, reasonBadRequest
				return 0, err
			}
			if err := b.fill(); err != nil {
				return 0, err
			}
		}
		n := copy(p, b.pend)
		b.pend = b.pend[n:]
		return n, nil
	}
	b.done = true
	return 0, io.EOF
}

func (b *body) took(n int) int {
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.done = true
	}
	return n
}

// readDirect reads into p, waiting for the client up to the body timeout.
func (b *body) readDirect(p []byte) (int, error) {
	c := b.c
	for {
		n, err := readNB(c.fd, p)
		if n > 0 {
			b.got += int64(n)
			return n, nil
		}
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := b.waitClient(); err != nil {
				return 0, b.timeoutErr(err)
			}
		case err == nil:
			return 0, io.ErrUnexpectedEOF
		default:
			return 0, err
		}
	}
}

// fill reads more input for the chunked decoder, compacting the buffer.
// Only called with b.pend empty, so no handed-out data is overwritten.
func (b *body) fill() error {
	c := b.c
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
	} else if int(c.rend) == len(c.rbuf) {
		if c.rpos == 0 {
			return &h1.Error{Status: 400, Reason: "chunk line too long"}
		}
		c.rend = int32(copy(c.rbuf, c.rbuf[c.rpos:c.rend]))
		c.rpos = 0
	}
	for {
		n, err := c.read()
		switch {
		case n > 0:
			b.got += int64(n)
			return nil
		case err == nil:
			return io.ErrUnexpectedEOF
		case err != unix.EAGAIN:
			return err
		}
		if err := b.waitClient(); err != nil {
			return b.timeoutErr(err)
		}
	}
}

// waitClient waits for more of the body, up to the body timeout. Past a
// grace, a client whose bytes arrive slower than MinBodyRate, counted over
// the time spent waiting for it, is cut: each byte within BodyTimeout would
// otherwise hold a worker without bound (R-U-Dead-Yet; Apache's
// mod_reqtimeout has the same rule). Time the handler spends not reading
// is not counted: then the socket is full and no wait happens.
func (b *body) waitClient() error {
	c := b.c
	limit, ok := rateLimit(c.bodyLimit(), c.srv.MinBodyRate, bodyGrace, b.got, b.waited)
	if !ok {
		return errTimeout
	}
	t0 := evloop.Now()
	err := c.wait(b.w.wake, false, limit)
	b.waited += time.Duration(evloop.Now() - t0)
	return err
}

func (b *body) timeoutErr(err error) error {
	if err == errTimeout {
		b.rw.keepAlive, b.rw.closeWhy = false, reasonTimeout
	}
	return err
}

func (b *body) setTrailers() {
	req := b.rw.req
	if len(b.dec.Trailers) == 0 {
		return
	}
	if req.Trailer == nil {
		req.Trailer = http.Header{}
	}
	for _, f := range b.dec.Trailers {
		k := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		req.Trailer[k] = append(req.Trailer[k], string(f.Value))
	}
}

// Close marks the body closed; the server discards the rest after the
// handler returns.
func (b *body) Close() error {
	b.closed.Store(true)
	return nil
}

// drain discards the unread body after the handler, up to DefaultMaxBodyDrain
// bytes. It returns false when the connection cannot be reused.
func (b *body) drain() bool {
	if b.done {
		return true
	}
	if b.err != nil || b.expect100 {
		return false
	}
	var scratch [4096]byte
	var total int64
	for !b.done {
		n, err := b.read(scratch[:])
		total += int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil || total > DefaultMaxBodyDrain {
			return false
		}
	}
	return true
}
