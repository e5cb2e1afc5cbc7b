package client

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/h1"
)

// bufSize is the read buffer taken while a connection has a request in
// flight; an idle connection holds none, unless it is one of its host's
// warmIdle most recently used.
const bufSize = 4 << 10

// warmIdle is how many of a host's most recently used idle connections
// (the next to be reused) keep their read buffer: under load a connection
// is idle for microseconds between requests, and takes no buffer from
// the pool and gives none back each time; a connection pushed further
// down the idle list gives its buffer back.
const warmIdle = 16

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// conn is one pooled connection.
type conn struct {
	t  *Transport // Immutable
	p  *hostPool  // Immutable
	nc net.Conn   // Immutable
	rc syscall.RawConn
	// peekFn is c.peek bound once; peekN, peekErr, peekB are its results,
	// owned by the goroutine calling alive.
	peekFn  func(uintptr) bool
	peekN   int
	peekErr error
	peekB   [1]byte
	// waitFn is c.waitCB bound once (writeWait's callback); wb, wphase,
	// wn, werr are its state, owned by the request writing its head.
	waitFn func(uintptr) bool
	wb     []byte
	wphase int
	wn     int
	werr   error

	closed atomic.Bool // nc.Close was called
	broken atomic.Bool // an I/O error or a close: nothing more works
	dead   atomic.Bool // written under p.mu: takes no new requests

	// Owned by the request holding the read turn.
	buf  *[]byte // nil while idle
	r, w int     // unread bytes are (*buf)[r:w]
	resp h1.Response
	dec  h1.ChunkedDecoder
	// vals: the values of the last response relayed from c (makeHeader),
	// shared by the next one whose values are the same.
	vals []string
	// preErr is the error of a read writeWait made, for the next fill.
	preErr error
	// deadline: a read deadline, dlAt, is set on nc (ResponseHeaderTimeout).
	// It is left in place after the head and cleared only before the
	// socket is read again without one (a body, the FIN peek): a response
	// read from the buffer costs no deadline change, and the next head
	// keeps it while it is still late enough (armHead).
	deadline bool
	dlAt     time.Time
	// armed: writeWait set the deadline for the head being read.
	armed bool

	// cancelFn is c.onCancel bound once: without pipelining, the one
	// request in flight (owner) is the one a cancel concerns.
	cancelFn func()
	owner    atomic.Pointer[reqState]

	// guarded by p.mu
	inflight  int
	served    int         // responses whose head was read
	proven    bool        // returned a persistent response: may pipeline
	exclusive bool        // a request that must not share is in flight
	left      int         // requests the server still takes (Keep-Alive max=), -1 unknown
	hint      int         // the server's Keep-Alive timeout in seconds, -1 none
	idleAt    time.Time   // when it last became idle
	expires   time.Time   // while idle: when the client closes it
	expiry    closeReason // while idle: the reason it will give
	why       closeReason // once dead: why
	dropped   bool
	lastW     *reqState // the last request whose write is pending
	lastR     *reqState // the last request whose read turn is pending
}

func (c *conn) closeNC() {
	c.broken.Store(true)
	if c.closed.CompareAndSwap(false, true) {
		c.nc.Close()
	}
}

func (c *conn) getBuf() {
	if c.buf == nil {
		c.buf = bufPool.Get().(*[]byte)
		c.r, c.w = 0, 0
	}
}

// clearHead forgets the last response's parsed head and the bytes read
// (none are left unread when a connection goes idle).
func (c *conn) clearHead() {
	// The parsed head aliases the buffer: clear it, or a connection that
	// gave its buffer back keeps it alive through Fields' backing array.
	f := c.resp.Fields[:cap(c.resp.Fields)]
	clear(f)
	c.resp.Fields = f[:0]
	c.resp.Reset()
	c.preErr = nil
	c.r, c.w = 0, 0
}

func (c *conn) putBuf() {
	c.clearHead()
	if c.buf != nil {
		if cap(*c.buf) == bufSize {
			bufPool.Put(c.buf)
		}
		c.buf = nil
		c.r, c.w = 0, 0
	}
}

// noDeadline clears the read deadline the last head left in place.
func (c *conn) noDeadline() {
	if c.deadline {
		c.nc.SetReadDeadline(time.Time{})
		c.deadline = false
	}
}

// armHead makes the read deadline for a head whose wait starts at now end
// no sooner than now+d and no later than now+d+headSlack(d). A deadline
// already in place that ends no sooner is kept, as nginx keeps a timer
// that would move by less than its lazy delay: under load a connection
// then changes its deadline once per slack, not once per request (each
// change takes the poller descriptor's lock and moves a runtime timer).
// The timeout is never early, and late by at most the slack.
func (c *conn) armHead(now time.Time, d time.Duration) {
	want := now.Add(d)
	if c.deadline && !c.dlAt.Before(want) {
		return
	}
	c.dlAt = want.Add(headSlack(d))
	c.nc.SetReadDeadline(c.dlAt)
	c.deadline = true
}

// headSlack is how much later than ResponseHeaderTimeout d a head's
// deadline may end: a sixteenth of d, at most 250 ms.
func headSlack(d time.Duration) time.Duration {
	return min(d/16, 250*time.Millisecond)
}

// fill reads more into the buffer, first moving unread bytes to the front.
// It grows the buffer up to max bytes when it is full.
func (c *conn) fill(max int) (int, error) {
	if err := c.preErr; err != nil {
		c.preErr = nil
		return 0, err
	}
	b := *c.buf
	if c.r > 0 {
		n := copy(b, b[c.r:c.w])
		c.r, c.w = 0, n
	}
	if c.w == len(b) {
		if len(b) >= max {
			return 0, errHeadTooLarge
		}
		nb := make([]byte, min(2*len(b), max))
		copy(nb, b[:c.w])
		c.putBuf()
		c.buf = &nb
		c.w = len(b)
		b = nb
	}
	n, err := c.nc.Read(b[c.w:])
	c.w += n
	return n, err
}

// reqState is one try of a request on a connection.
type reqState struct {
	ctx       context.Context
	req       *http.Request
	method    string
	into      http.Header // where the response's fields go; nil: a new map
	extra     []Field     // written after req.Header's
	c         *conn
	pipe      bool // may share a connection (idempotent, no body)
	retryable bool // shouldRetry could retry it after the idle race

	// Set by assignLocked under p.mu.
	reused    bool
	pipelined bool
	idleFor   time.Duration   // how long the connection had been idle
	now       time.Time       // when an idle connection was taken (zero: not)
	prevWrite <-chan struct{} // closed when the request before has been written
	prevRead  <-chan struct{} // closed when the response before has been read
	myWrite   chan struct{}   // created on demand under p.mu
	myRead    chan struct{}
	readDone  bool

	owns atomic.Bool // holds the conn's I/O: a cancel closes it
	stop func() bool // stops the context watcher
	// cbStarted: stop came too late, the cancel callback ran (or runs).
	cbStarted bool
	written   atomic.Int64
	gotByte   bool

	// Request body writer.
	bodyTouched atomic.Bool
	bodyEnd     atomic.Bool // the last byte of the body was written
	wres        chan error  // the writer's result
	cont        chan bool   // 100 Continue (true) or a final response (false)
}

// onCancel runs when the request's context is done: I/O in progress stops
// by closing the connection (its owner then reports ctx.Err()).
func (rq *reqState) onCancel() {
	if rq.owns.Load() {
		rq.c.closeNC()
	}
}

// onCancel is reqState.onCancel for the request that owns c (no
// pipelining), without a closure per request.
func (c *conn) onCancel() {
	if rq := c.owner.Load(); rq != nil {
		rq.onCancel()
	}
}

// writeDone passes the write turn on.
func (rq *reqState) writeDone() {
	if rq.c.t.pipelineDepth() <= 1 {
		return
	}
	p := rq.c.p
	p.mu.Lock()
	if rq.myWrite != nil {
		close(rq.myWrite)
		rq.myWrite = nil
	}
	if rq.c.lastW == rq {
		rq.c.lastW = nil
	}
	p.mu.Unlock()
}

// abandon gives up rq's place on its connection without a response, after
// its context ended. Unwritten, it passes both turns on untouched; written,
// its response would block the ones behind, so the connection is closed
// when its read turn comes (those behind retry).
func (rq *reqState) abandon(written bool) {
	run := func() {
		if !written {
			if rq.prevWrite != nil {
				<-rq.prevWrite
			}
			rq.writeDone()
		}
		if rq.prevRead != nil {
			<-rq.prevRead
		}
		if written {
			rq.c.closeNC()
		}
		rq.c.p.done(rq, !written, closeCanceled)
	}
	if rq.prevWrite == nil && rq.prevRead == nil {
		run()
		return
	}
	go run()
}
