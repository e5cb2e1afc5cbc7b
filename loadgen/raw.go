package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/dallyhttp/dally/h1"
)

// Request is the request a RawWorker sends, the same every time.
type Request struct {
	Method string // default GET
	Target string // request-target, default "/"
	Host   string // Host field
	Header [][2]string
	Body   []byte
	// HTTP10 sends HTTP/1.0 requests (with Connection: keep-alive when
	// KeepAlive, RFC 2068 §19.7.1).
	HTTP10 bool
	// KeepAlive false sends Connection: close and a connection per request.
	KeepAlive bool
}

// Bytes is the request on the wire.
func (r *Request) Bytes() []byte {
	major, minor := 1, 1
	if r.HTTP10 {
		minor = 0
	}
	b := h1.AppendRequestLine(nil, cmpOr(r.Method, "GET"), cmpOr(r.Target, "/"), major, minor)
	b = h1.AppendField(b, "Host", r.Host)
	hasUA := false
	for _, f := range r.Header {
		hasUA = hasUA || equalFold(f[0], "User-Agent")
		b = h1.AppendField(b, f[0], f[1])
	}
	if !hasUA {
		b = h1.AppendField(b, "User-Agent", "dally-load")
	}
	switch {
	case !r.KeepAlive:
		b = h1.AppendField(b, "Connection", "close")
	case r.HTTP10:
		b = h1.AppendField(b, "Connection", "keep-alive")
	}
	if len(r.Body) > 0 || r.Method == "POST" || r.Method == "PUT" {
		b = h1.AppendField(b, "Content-Length", strconv.Itoa(len(r.Body)))
	}
	b = append(b, "\r\n"...)
	return append(b, r.Body...)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// RawWorker speaks HTTP/1.x on one connection at a time with dally's h1
// codec: it writes a batch of identical requests back to back (pipelining
// when the batch has more than one) and reads the responses in order,
// redialling when the server closes. Its record path does not allocate.
type RawWorker struct {
	Addr    string // host:port to dial
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout time.Duration // per batch: from the write to the last response; 0: none

	reqTmpl Request
	req     []byte
	method  []byte
	batch   []byte // req repeated len(batch)/len(req) times
	conn    net.Conn
	served  int // responses read on conn
	buf     []byte
	r, w    int
	resp    h1.Response
	chunk   h1.ChunkedDecoder
	// Retries counts batches resent on a fresh connection because a reused
	// one turned out closed before any byte of a response (the race with
	// the server's idle close that RFC 9112 §9.3.1 lets clients retry).
	Retries int64
}

// NewRawWorker returns a worker sending req to addr.
func NewRawWorker(addr string, req *Request, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *RawWorker {
	return &RawWorker{
		Addr: addr, Dial: dial,
		reqTmpl: *req,
		req:     req.Bytes(),
		method:  []byte(cmpOr(req.Method, "GET")),
		buf:     make([]byte, 4096),
	}
}

// Close closes the current connection.
func (w *RawWorker) Close() error {
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}

func (w *RawWorker) fail(out []Outcome, err error) {
	now := time.Now()
	for i := range out {
		out[i] = Outcome{Err: err, End: now}
	}
}

// Do implements Worker.
func (w *RawWorker) Do(ctx context.Context, out []Outcome) {
	for attempt := 0; ; attempt++ {
		if w.conn == nil {
			if err := ctx.Err(); err != nil {
				w.fail(out, err)
				return
			}
			c, err := w.Dial(ctx, "tcp", w.Addr)
			if err != nil {
				w.fail(out, err)
				return
			}
			w.conn, w.served, w.r, w.w = c, 0, 0, 0
		}
		reused := w.served > 0
		got, err := w.roundTrip(ctx, out)
		if err == nil {
			return
		}
		w.Close()
		if err == ErrClosedEarly {
			// The server ended the connection gracefully (Connection:
			// close) with pipelined requests unanswered: it never
			// processed them, so they go again on a new connection
			// (RFC 9112 §9.3.2).
			out = out[got:]
			attempt = -1
			w.Retries++
			continue
		}
		// Retry only what the server provably never saw an answer to on a
		// connection that had worked: a stale keep-alive connection.
		if got == 0 && reused && attempt == 0 && ctx.Err() == nil && isClosedConn(err) {
			w.Retries++
			continue
		}
		now := time.Now()
		for i := got; i < len(out); i++ {
			out[i] = Outcome{Err: err, End: now}
		}
		return
	}
}

func isClosedConn(err error) bool {
	k := classify(err)
	return k == kindEOF || k == kindReset
}

// roundTrip writes len(out) requests and reads their responses; it returns
// how many were answered and, if it stopped short, why. On success the
// connection is left open only if the last response allows it.
func (w *RawWorker) roundTrip(ctx context.Context, out []Outcome) (int, error) {
	n := len(out)
	if len(w.batch) != n*len(w.req) {
		w.batch = bytes.Repeat(w.req, n)
	}
	var deadline time.Time
	if w.Timeout > 0 {
		deadline = time.Now().Add(w.Timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	w.conn.SetDeadline(deadline)
	if _, err := w.conn.Write(w.batch); err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		status, keep, err := w.readResponse()
		if err != nil {
			return i, err
		}
		w.served++
		out[i] = Outcome{Status: status, End: time.Now()}
		if !keep {
			w.Close()
			if i < n-1 {
				return i + 1, ErrClosedEarly
			}
		}
	}
	return n, nil
}

// fill reads more bytes into buf, compacting or growing it first.
func (w *RawWorker) fill() error {
	if w.r == w.w {
		w.r, w.w = 0, 0
	} else if w.w == len(w.buf) {
		if w.r > 0 {
			w.w = copy(w.buf, w.buf[w.r:w.w])
			w.r = 0
		} else if len(w.buf) < 1<<20 {
			nb := make([]byte, 2*len(w.buf))
			w.w = copy(nb, w.buf[w.r:w.w])
			w.buf = nb
		} else {
			return errors.New("loadgen: response head too large")
		}
	}
	m, err := w.conn.Read(w.buf[w.w:])
	w.w += m
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// readResponse reads one response and its body; keep says whether the
// connection may carry the next.
func (w *RawWorker) readResponse() (status int, keep bool, err error) {
	for {
		n, err := h1.ParseResponse(w.buf[w.r:w.w], &w.resp, nil)
		if err == h1.ErrNeedMore {
			if err := w.fill(); err != nil {
				if err == io.EOF && w.r != w.w {
					err = io.ErrUnexpectedEOF
				}
				return 0, false, err
			}
			continue
		}
		if err != nil {
			return 0, false, err
		}
		w.r += n
		if s := w.resp.Status; s >= 100 && s < 200 && s != 101 {
			continue // interim response: the final one follows
		}
		break
	}
	status = w.resp.Status
	keep = w.resp.Persistent(h1.RoleClient)
	kind, length := h1.ResponseBody(w.method, &w.resp)
	switch kind {
	case h1.BodyLength:
		for length > 0 {
			if w.r == w.w {
				if err := w.fill(); err != nil {
					return 0, false, unexpected(err)
				}
			}
			k := min(int64(w.w-w.r), length)
			w.r += int(k)
			length -= k
		}
	case h1.BodyChunked:
		w.chunk.Reset()
		for {
			_, used, err := w.chunk.Next(w.buf[w.r:w.w])
			w.r += used
			if err == io.EOF {
				break
			}
			if err == h1.ErrNeedMore || (err == nil && w.r == w.w) {
				if err := w.fill(); err != nil {
					return 0, false, unexpected(err)
				}
				continue
			}
			if err != nil {
				return 0, false, err
			}
		}
	case h1.BodyUntilClose:
		for {
			w.r = w.w
			if err := w.fill(); err != nil {
				if err == io.EOF {
					return status, false, nil
				}
				return 0, false, err
			}
		}
	}
	return status, keep, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// RoundTripWorker sends requests through an http.RoundTripper, one at a
// time: pipelining is the transport's business, and net/http's does not.
type RoundTripWorker struct {
	RT      http.RoundTripper
	Req     *http.Request // sent again each time; Body is taken from Body
	Body    []byte
	Timeout time.Duration
}

// Do implements Worker; it sends len(out) requests one after another.
func (w *RoundTripWorker) Do(ctx context.Context, out []Outcome) {
	for i := range out {
		out[i] = w.do(ctx)
	}
}

func (w *RoundTripWorker) do(ctx context.Context) Outcome {
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	req := w.Req.WithContext(ctx)
	if w.Body != nil {
		req.Body = io.NopCloser(bytes.NewReader(w.Body))
		req.ContentLength = int64(len(w.Body))
	}
	resp, err := w.RT.RoundTrip(req)
	if err != nil {
		return Outcome{Err: err, End: time.Now()}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return Outcome{Err: err, End: time.Now()}
	}
	return Outcome{Status: resp.StatusCode, End: time.Now()}
}

// Close implements Worker; the transport's connections are its owner's.
func (w *RoundTripWorker) Close() error { return nil }

// SetTarget changes the request-target of the requests w sends.
func (w *RawWorker) SetTarget(target string) {
	w.reqTmpl.Target = target
	w.req = w.reqTmpl.Bytes()
}
