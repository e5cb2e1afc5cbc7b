package server

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/internal/evloop"
	"github.com/dallyhttp/dally/internal/netpoll"
	"github.com/dallyhttp/dally/internal/policy"
	"golang.org/x/sys/unix"
)

// timerFor says what a connection's one timer is measuring.
type timerFor uint8

const (
	timerNone   timerFor = iota
	timerHead            // a partial head: HeaderTimeout and MinHeaderRate
	timerWait            // the owner waits for readiness: body or write timeout
	timerLinger          // closing: drain bound
	timerPause           // paused: when to read the client again
)

// conn is one client connection. While idle it holds no buffer and no
// goroutine: only this struct, the descriptor in its loop's poller and a
// place in the server's idle list.
//
// Ownership: a connection in StateActive is owned by one goroutine (a
// worker, or briefly the loop that times out a partial head), which alone
// reads, writes and closes the descriptor and touches the fields marked
// "owned". In every other state the fields are touched only under mu.
type conn struct {
	// Immutable after newConn.
	srv    *Server
	loop   *evloop.Loop
	fd     int
	id     uint64
	remote netip.AddrPort
	ctx    context.Context

	mu       sync.Mutex
	state    State    // guarded by mu
	readable bool     // guarded by mu: read readiness seen while owned
	writable bool     // guarded by mu: write readiness seen while owned
	hup      bool     // guarded by mu: the peer's FIN has been seen
	timedOut bool     // guarded by mu: the owner's wait reached its deadline
	timerFor timerFor // guarded by mu
	waited   bool     // owner only: a wait since the worker's clock was read (it is stale)
	drained  bool     // owner only: the last read returned less than it asked for: the socket was empty
	// (The flags above share one word, and the small fields below pair up:
	// an idle connection is this struct, so its size class is the idle
	// memory figure's largest part.)
	waiter   chan struct{} // guarded by mu: set while the owner waits
	deadline int64         // guarded by mu: end of the current phase (loop clock)
	cancel   *reqContext   // guarded by mu: the running request's context
	lingered int32         // guarded by mu: bytes discarded while closing
	finEdge  bool          // owner only: the event that handed the connection over reported the peer's FIN
	resumed  bool          // owner only: the head in the buffer was already admitted before a pause

	timer evloop.Timer

	idle   policy.IdleNode[conn]  // guarded by srv.idle.mu
	sched  policy.SchedNode[conn] // guarded by srv.pool.mu
	client *policy.Client         // guarded by srv.clientsMu
	key    policy.ClientKey       // Immutable: the client's address (IPv6: its /64)

	// Owned.
	rbuf       []byte        // nil while idle
	rpos, rend int32         // unread input is rbuf[rpos:rend] (rbuf is at most the head limit)
	headStart  int64         // loop clock at the first byte of the head being read
	nreq       int32         // requests started on this connection
	served     atomic.Int32  // nreq, readable by ConnTable
	created    int64         // Immutable: loop clock at accept
	out        []byte        // responses written but not yet sent
	wSent      int64         // bytes sent for the current request's response
	wWaited    time.Duration // time its writes waited for the client to make room
	readLimit  time.Duration // this request's body wait bound, if the handler set one
	writeLimit time.Duration // this request's write wait bound, if the handler set one
	remoteStr  string
	remoteTCP  atomic.Pointer[net.TCPAddr] // remote as a net.Addr, made on first use
}

func (c *conn) bodyLimit() time.Duration {
	if c.readLimit > 0 {
		return c.readLimit
	}
	return c.srv.BodyTimeout
}

func (c *conn) writeWaitLimit() time.Duration {
	if c.writeLimit > 0 {
		return c.writeLimit
	}
	return c.srv.WriteTimeout
}

var nextConnID struct {
	sync.Mutex
	n uint64
}

func (s *Server) newConn(fd int, addr net.Addr, ctx context.Context) {
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &conn{srv: s, fd: fd, ctx: ctx}
	c.idle.Value, c.sched.Value = c, c
	if ta, ok := addr.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		c.remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	c.key = policy.ClientOf(c.remote.Addr())
	nextConnID.Lock()
	nextConnID.n++
	c.id = nextConnID.n
	nextConnID.Unlock()
	c.loop = s.loops[int(s.nextLoop.Add(1))%len(s.loops)]

	// The per-client connection cap (generous: many users share an address
	// behind NAT), then the server's own limit.
	s.clientsMu.Lock()
	cl, v := s.clients.Connect(c.key, evloop.Now())
	s.clientsMu.Unlock()
	if v.Decision == policy.Reject503 {
		s.stats.greedy503.Add(1)
		rejectBusy(fd, v.RetryAfter)
		return
	}
	c.client = cl
	if !s.admit(c) {
		s.disconnect(c)
		return
	}
	now := evloop.Now()
	c.created = now
	// Until its first byte, a new connection waits like an idle one: under
	// the idle timeout and in the LRU (the oldest silent one is shed first).
	s.idle.push(c, now)
	if err := c.loop.Add(fd, c); err != nil {
		s.idle.remove(c)
		s.forget(c, reasonError)
		unix.Close(fd)
		return
	}
	s.hook(c, StateNew)
}

// admit registers c, first shedding the least recently used idle
// connection when the server is at MaxConns. With none idle, the newcomer
// is answered 503 with Retry-After and closed in stages.
func (s *Server) admit(c *conn) bool {
	for {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			unix.Close(c.fd)
			return false
		}
		if len(s.conns) < s.MaxConns {
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.stats.byState[StateNew].Add(1)
			s.stats.accepted.Add(1)
			s.stats.open.Add(1)
			return true
		}
		s.mu.Unlock()
		victim := s.idle.victim(s.ShedPolicy, evloop.Now(), s.idlePolicy.MinWindow)
		if victim == nil {
			s.stats.rejected503.Add(1)
			rejectBusy(c.fd, s.retryAfter())
			return false
		}
		victim.closeIfIdle(reasonShed) // if it woke up meanwhile, look again
	}
}

// rejectBusy answers a connection that was never admitted: a 503 written
// at once (a fresh socket has room for it), then a close in stages that is
// bounded by a short linger on a detached goroutine-free path: shutdown the
// write side and let the kernel deliver; a client that already sent its
// request may see a reset only after the response is in its buffers.
func rejectBusy(fd int, retryAfter int) {
	msg := errorResponse(503, "the server is at its connection limit", retryAfter)
	unix.Write(fd, msg)
	unix.Shutdown(fd, unix.SHUT_WR)
	// Discard what the client already sent, so the close sends FIN, not RST.
	var b [4096]byte
	for {
		n, err := unix.Read(fd, b[:])
		if n <= 0 || err != nil {
			break
		}
	}
	unix.Close(fd)
}

// forget drops c from the server's table and counts its close
// (reasonNone: counted when the close began).
func (s *Server) forget(c *conn, r closeReason) {
	s.mu.Lock()
	_, ok := s.conns[c]
	delete(s.conns, c)
	s.mu.Unlock()
	if ok {
		s.stats.open.Add(-1)
		if r != reasonNone {
			s.stats.closed[r].Add(1)
		}
		s.disconnect(c)
	}
}

// disconnect ends c's share of its client's connections.
func (s *Server) disconnect(c *conn) {
	s.clientsMu.Lock()
	if c.client != nil {
		s.clients.Disconnect(c.client, evloop.Now())
		c.client = nil
	}
	s.clientsMu.Unlock()
}

func (s *Server) hook(c *conn, st State) {
	if s.ConnState != nil {
		s.ConnState(c.info(), st)
	}
}

// info is the connection as ConnState and ConnInfoFromContext show it; its
// address is made once per connection, not at each state change.
func (c *conn) info() ConnInfo {
	a := c.remoteTCP.Load()
	if a == nil {
		a = net.TCPAddrFromAddrPort(c.remote)
		if !c.remoteTCP.CompareAndSwap(nil, a) {
			a = c.remoteTCP.Load()
		}
	}
	return ConnInfo{ID: c.id, Remote: a}
}

// OnEvent runs on the loop goroutine. See evloop.Handler.
func (c *conn) OnEvent(flags uint32) {
	c.mu.Lock()
	switch c.state {
	case StateNew, StateIdle, StateReading:
		if flags&(netpoll.Readable|netpoll.HangUp|netpoll.Failed) == 0 {
			c.mu.Unlock()
			return
		}
		// Edge-triggered: a FIN that came with the request raises no
		// further edge, so the owner must not skip the read that sees it.
		c.takeLocked(flags&(netpoll.HangUp|netpoll.Failed) != 0)
		c.mu.Unlock()
		if c.loop.Helping() {
			// A busy worker found this while the loop was late: queue it
			// for the workers already running rather than wake one more
			// (see workerPool.enqueue).
			c.srv.pool.enqueue(c)
			return
		}
		c.srv.pool.dispatch(c)
		return
	case StateActive:
		if flags&(netpoll.Readable|netpoll.HangUp|netpoll.Failed) != 0 {
			c.readable = true
		}
		if flags&(netpoll.Writable|netpoll.HangUp|netpoll.Failed) != 0 {
			c.writable = true
		}
		if flags&(netpoll.HangUp|netpoll.Failed) != 0 && !c.hup && c.peerGone() {
			// The client went away while its request runs: cancel the
			// request's context (the response is still written if it can be).
			c.hup = true
			if c.cancel != nil {
				c.cancel.cancel(context.Canceled)
			}
		}
		c.signal()
		c.mu.Unlock()
	case StateClosing:
		c.drainLinger()
		c.mu.Unlock()
	default:
		c.mu.Unlock()
	}
}

// takeLocked moves a waiting connection (new, idle or reading) to Active
// for a worker to own; the caller dispatches it after unlocking. fin says
// the readiness that woke it included the peer's FIN. Called with mu held.
func (c *conn) takeLocked(fin bool) {
	if c.state != StateReading {
		c.srv.idle.remove(c)
	}
	c.setState(StateActive)
	c.readable, c.drained, c.finEdge = false, false, fin
}

// peerGone confirms a hang-up report: the socket has a FIN and no data
// before it, or an error. Called with mu held, on an owned descriptor that
// cannot be closed meanwhile (only its owner closes it, and not while
// Active without taking mu).
func (c *conn) peerGone() bool {
	var b [1]byte
	n, _, err := unix.Recvfrom(c.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err == unix.EAGAIN {
		return false
	}
	return n == 0 || err != nil
}

// signal wakes the owner if it waits. Called with mu held.
func (c *conn) signal() {
	if c.waiter != nil {
		select {
		case c.waiter <- struct{}{}:
		default:
		}
		c.waiter = nil
	}
}

// OnTimer runs on the loop goroutine. See evloop.Handler.
func (c *conn) OnTimer(now int64) {
	c.mu.Lock()
	if c.timerFor == timerNone || c.timer.Armed() {
		c.mu.Unlock()
		return
	}
	if c.state == StatePaused && now < c.deadline {
		// A pause only makes room while the server has none: once
		// saturation is over the client is served again, but the paused
		// connections come back spread over about a second (a quarter at
		// each look), not all in one burst that saturates the server again.
		if c.srv.press.greedy.Load() || !releaseNow(c.id, now) {
			c.loop.Schedule(&c.timer, c, min(c.deadline, now+int64(pauseRecheck)))
			c.mu.Unlock()
			return
		}
		c.deadline = now
	}
	if now < c.deadline {
		c.loop.Schedule(&c.timer, c, c.deadline)
		c.mu.Unlock()
		return
	}
	switch c.state {
	case StateReading:
		if !c.headTooSlow(now) {
			c.deadline = now + int64(time.Second)
			c.loop.Schedule(&c.timer, c, c.deadline)
			c.mu.Unlock()
			return
		}
		// Take the connection to answer 408 from the loop: the answer is
		// small and the socket idle, so the write does not block.
		c.setState(StateActive)
		c.timerFor = timerNone
		c.mu.Unlock()
		c.srv.stats.headerTimeouts.Add(1)
		c.out = append(c.out, errorResponse(408, "the request head did not arrive in time", 0)...)
		c.writeNoWait()
		c.closeInStages(reasonTimeout)
	case StateActive:
		if c.timerFor == timerWait {
			c.timedOut = true
			c.signal()
		}
		c.mu.Unlock()
	case StateClosing:
		c.closeLocked(reasonNone)
		c.mu.Unlock()
	case StatePaused:
		// The pause is over: serve the head that waits in the buffer.
		c.setState(StateActive)
		c.timerFor = timerNone
		c.resumed = true
		c.readable, c.drained = false, false
		c.mu.Unlock()
		c.srv.pool.dispatch(c)
	default:
		c.mu.Unlock()
	}
}

// pauseRecheck is how often a paused connection looks at the saturation
// signal: a pause ends early once the server is no longer saturated.
const pauseRecheck = 200 * time.Millisecond

// releaseNow is a cheap coin with a one-in-four chance, different for each
// connection and each look (a hash of both), that spreads the release of
// paused connections.
func releaseNow(id uint64, now int64) bool {
	x := id*0x9E3779B97F4A7C15 ^ uint64(now/int64(pauseRecheck))*0xBF58476D1CE4E5B9
	x ^= x >> 31
	x *= 0x94D049BB133111EB
	x ^= x >> 29
	return x&3 == 0
}

// pause stops reading a greedy client's connection for d (the draft, §9:
// its TCP window closes), or until the server is no longer saturated; the
// head already read waits in the buffer. The owner lets go of the
// connection.
func (c *conn) pause(w *worker, d time.Duration) {
	if err := c.flush(w.wake); err != nil {
		c.closeNow(reasonError)
		return
	}
	c.mu.Lock()
	if c.state == StateActive {
		c.setState(StatePaused)
		c.timerFor = timerPause
		now := evloop.Now()
		c.deadline = now + int64(d)
		c.loop.Schedule(&c.timer, c, min(c.deadline, now+int64(pauseRecheck)))
	}
	c.mu.Unlock()
}

// admitRequest asks the greedy-client policy about the head just parsed:
// serve it, pause the connection, or answer 503. It returns false when the
// worker must let go of the connection.
func (c *conn) admitRequest(w *worker) bool {
	s := c.srv
	if c.resumed {
		c.resumed = false
		return true
	}
	if s.DisableGreedyControl || c.client == nil {
		return true
	}
	s.clientsMu.Lock()
	// The time the head began to arrive: close enough, and no clock read.
	v := s.clients.Request(c.client, c.headStart, s.press.greedy.Load())
	s.clientsMu.Unlock()
	switch v.Decision {
	case policy.Pause:
		s.stats.pauses.Add(1)
		c.pause(w, v.Wait)
		return false
	case policy.Reject503:
		s.stats.greedy503.Add(1)
		c.out = append(c.out, errorResponse(503, "this client is over its fair share while the server is saturated", v.RetryAfter)...)
		c.flush(w.wake)
		c.closeInStages(reasonGreedy)
		return false
	}
	return true
}

// headTooSlow judges a partial head at its deadline: too old, or, after
// the grace, arriving slower than MinHeaderRate (slowloris). Called with mu
// held, or by the owner.
func (c *conn) headTooSlow(now int64) bool {
	age := time.Duration(now - c.headStart)
	if age >= c.srv.HeaderTimeout {
		return true
	}
	if age >= headerGrace {
		got := c.rend - c.rpos
		return float64(got) < float64(c.srv.MinHeaderRate)*age.Seconds()
	}
	return false
}

// armHeadTimer is called with mu held when a partial head is left waiting.
func (c *conn) armHeadTimer() {
	c.timerFor = timerHead
	next := c.headStart + int64(headerGrace)
	if now := evloop.Now(); next <= now {
		next = now + int64(time.Second)
	}
	if hard := c.headStart + int64(c.srv.HeaderTimeout); next > hard {
		next = hard
	}
	c.deadline = next
	c.loop.Schedule(&c.timer, c, next)
}

var errTimeout = errors.New("dally: i/o timeout")
var errClosed = errors.New("dally: connection closed")

// wait blocks the owner until the loop reports readiness (read or write),
// the deadline passes, or the connection is aborted.
func (c *conn) wait(wake chan struct{}, forWrite bool, limit time.Duration) error {
	c.waited = true
	c.mu.Lock()
	for {
		if c.state != StateActive {
			c.mu.Unlock()
			return errClosed
		}
		if forWrite && c.writable {
			c.writable = false
			break
		}
		if !forWrite && c.readable {
			c.readable = false
			break
		}
		if c.timedOut {
			c.timedOut = false
			c.timerFor = timerNone
			c.mu.Unlock()
			return errTimeout
		}
		if c.timerFor != timerWait {
			c.timerFor = timerWait
			c.deadline = evloop.Now() + int64(limit)
			c.loop.Schedule(&c.timer, c, c.deadline)
		}
		c.waiter = wake
		c.mu.Unlock()
		<-wake
		c.mu.Lock()
	}
	if c.timerFor == timerWait {
		c.timerFor = timerNone
		c.loop.Cancel(&c.timer)
	}
	c.mu.Unlock()
	return nil
}

// read reads once into rbuf; (0, nil) is EOF, EAGAIN says to wait.
func (c *conn) read() (int, error) {
	for {
		space := len(c.rbuf) - int(c.rend)
		n, err := readNB(c.fd, c.rbuf[c.rend:])
		c.drained = n < space
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			c.rend += int32(n)
			return n, nil
		}
		if err == nil {
			return 0, nil
		}
		return 0, err
	}
}

// flush sends c.out, waiting up to WriteTimeout for room each time the
// socket is full.
func (c *conn) flush(wake chan struct{}) error {
	for len(c.out) > 0 {
		n, err := writeNB(c.fd, c.out)
		if n > 0 {
			c.out = c.out[:copy(c.out, c.out[n:])]
			c.wSent += int64(n)
			continue
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			// A client that reads a little before each WriteTimeout would
			// hold its worker without bound: past a grace, one taking the
			// response slower than MinWriteRate (bytes per second of
			// waiting for it to make room) is cut, as MinBodyRate cuts
			// trickled bodies.
			limit, ok := rateLimit(c.writeWaitLimit(), c.srv.MinWriteRate, writeGrace, c.wSent, c.wWaited)
			if !ok {
				return errTimeout
			}
			t0 := evloop.Now()
			err := c.wait(wake, true, limit)
			c.wWaited += time.Duration(evloop.Now() - t0)
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// rateLimit bounds one wait for a peer that must keep a minimum rate:
// after moving n bytes in waited time spent waiting for it, the peer may be
// waited for until waited reaches max(grace, n/rate), and never longer
// than limit. It reports false when that time is already spent. A rate of
// zero or less is no rule.
func rateLimit(limit time.Duration, rate int, grace time.Duration, n int64, waited time.Duration) (time.Duration, bool) {
	if rate <= 0 {
		return limit, true
	}
	allowed := max(grace, time.Duration(n*int64(time.Second)/int64(rate)))
	if waited >= allowed {
		return 0, false
	}
	return min(limit, allowed-waited), true
}

// writeNoWait sends what fits of c.out without waiting (loop goroutine).
func (c *conn) writeNoWait() {
	for len(c.out) > 0 {
		n, err := writeNB(c.fd, c.out)
		if n <= 0 || err != nil {
			break
		}
		c.out = c.out[n:]
	}
	c.out = nil
}

// clock is the loop clock as the worker last read it for this
// connection, read again if there is none or a wait came since.
func (c *conn) clock(w *worker) int64 {
	if c.waited {
		c.waited, w.now = false, 0
	}
	if w.now == 0 {
		w.now = evloop.Now()
	}
	return w.now
}

// goIdle is called by the owner after a read said EAGAIN with no
// unparsed input. It returns false when readiness arrived meanwhile, in
// which case the owner keeps the connection and reads again.
func (c *conn) goIdle(w *worker, now int64) bool {
	c.mu.Lock()
	if c.readable {
		c.readable = false
		c.mu.Unlock()
		return false
	}
	c.releaseBuffersTo(w)
	c.setState(StateIdle)
	c.srv.idle.push(c, now)
	c.mu.Unlock()
	c.srv.hook(c, StateIdle)
	return true
}

// goReading parks a partial head under its header timer. Like goIdle it
// returns false when readiness arrived meanwhile.
func (c *conn) goReading() bool {
	c.mu.Lock()
	if c.readable {
		c.readable = false
		c.mu.Unlock()
		return false
	}
	c.setState(StateReading)
	c.armHeadTimer()
	c.mu.Unlock()
	return true
}

func (c *conn) releaseBuffers() { c.releaseBuffersTo(nil) }

// releaseBuffersTo gives the connection's buffers to the worker w (nil:
// the pool).
func (c *conn) releaseBuffersTo(w *worker) {
	put := putBuf
	if w != nil {
		put = w.putBuf
	}
	if c.rbuf != nil {
		put(c.rbuf)
		c.rbuf, c.rpos, c.rend = nil, 0, 0
	}
	if c.out != nil {
		put(c.out)
	}
	c.out = nil
}

// closeInStages is the draft's close: flush the last response, shut down
// the write side, read and discard until the client's FIN or a bound, then
// close. Closing with unread input would make the kernel send a reset that
// can destroy the response before the client reads it. Called by the owner.
func (c *conn) closeInStages(r closeReason) {
	unix.Shutdown(c.fd, unix.SHUT_WR)
	c.mu.Lock()
	c.releaseBuffers()
	if c.state != StateActive {
		c.mu.Unlock()
		return
	}
	c.setState(StateClosing)
	c.srv.stats.closed[r].Add(1)
	c.srv.stats.staged.Add(1)
	c.timerFor = timerLinger
	c.deadline = evloop.Now() + int64(c.srv.LingerTimeout)
	c.loop.Schedule(&c.timer, c, c.deadline)
	c.drainLinger()
	c.mu.Unlock()
	c.srv.hook(c, StateClosing)
}

// drainLinger discards input of a closing connection until EAGAIN, the
// FIN, or the byte bound. Called with mu held.
func (c *conn) drainLinger() {
	if c.state != StateClosing {
		return
	}
	var b [2048]byte
	for {
		n, err := unix.Read(c.fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if n <= 0 || err != nil {
			c.closeLocked(reasonNone)
			return
		}
		c.lingered = int32(min(int(c.lingered)+n, math.MaxInt32))
		if int(c.lingered) > c.srv.LingerBytes {
			c.closeLocked(reasonNone)
			return
		}
	}
}

// closeNow closes at once (the peer is gone or broke the connection).
// Called by the owner.
func (c *conn) closeNow(r closeReason) {
	c.mu.Lock()
	c.releaseBuffers()
	c.closeLocked(r)
	c.mu.Unlock()
}

// setState moves c to st and the per-state counts with it. Called with mu
// held (or by the owner of an Active connection, which holds it too when
// letting go). Closed and hijacked connections leave the table, so they
// leave the counts.
func (c *conn) setState(st State) {
	by := &c.srv.stats.byState
	by[c.state].Add(-1)
	if st != StateClosed && st != StateHijacked {
		by[st].Add(1)
	}
	c.state = st
}

// closeLocked closes the descriptor. Called with mu held, by the owner or
// for an unowned connection. reasonNone means the close was counted when
// the closing began.
func (c *conn) closeLocked(r closeReason) {
	if c.state == StateClosed || c.state == StateHijacked {
		return
	}
	prev := c.state
	c.setState(StateClosed)
	c.timerFor = timerNone
	c.loop.Cancel(&c.timer)
	if prev == StateIdle || prev == StateNew {
		c.srv.idle.remove(c)
	}
	c.loop.Remove(c.fd, false)
	unix.Close(c.fd)
	c.srv.forget(c, r)
	c.signal()
	if c.srv.ConnState != nil {
		go c.srv.hook(c, StateClosed)
	}
}

// closeIfIdle closes c if it is still idle (or new), for the sweep and for
// shedding. It returns whether it closed.
func (c *conn) closeIfIdle(r closeReason) bool {
	c.mu.Lock()
	if c.state != StateIdle && c.state != StateNew {
		c.mu.Unlock()
		return false
	}
	if c.pendingInput() {
		// A request has arrived whose readiness its loop has not handled
		// yet (a loaded loop, or a client's request racing the timeout):
		// serve it rather than close under it. The readiness that follows
		// finds the connection active and is only recorded.
		c.takeLocked(false)
		c.mu.Unlock()
		c.srv.stats.savedFromClose.Add(1)
		c.srv.pool.dispatch(c)
		return false
	}
	c.closeLocked(r)
	c.mu.Unlock()
	return true
}

// pendingInput reports whether request bytes wait in the socket (a FIN
// alone is not input). Called with mu held on an unowned connection, whose
// descriptor only a holder of mu can close.
func (c *conn) pendingInput() bool {
	var b [1]byte
	n, _, err := unix.Recvfrom(c.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil && n > 0
}

// abort is Close's hammer. Unowned connections close here; an owned one has
// its socket shut down so that its owner's I/O fails and the owner closes.
func (c *conn) abort(r closeReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case StateActive:
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
		c.readable, c.writable = true, true
		if c.cancel != nil {
			c.cancel.cancel(context.Canceled)
		}
		c.signal()
	case StateClosed, StateHijacked:
	default:
		c.releaseBuffers()
		c.closeLocked(r)
	}
}

// serve runs on a worker: read heads, run handlers, answer, until the
// connection goes idle, waits for more of a head, or closes.
func (c *conn) serve(w *worker) {
	// The turn that found the connection ready stands for "now" until the
	// first response is finished (the head's start, an early idle).
	w.now = c.loop.LastTurn()
	for {
		if !c.readHead(w) || !c.admitRequest(w) {
			return
		}
		if !c.handle(w) {
			return
		}
		if c.srv.helpLoops(c.clock(w)) {
			// The processors are saturated: a worker that goes on with
			// its pipelined requests would keep the processor for a whole
			// time slice (10 ms) while the goroutine serving a newcomer
			// waits behind it. One request, then the others' turn.
			runtime.Gosched()
		}
		// One request per connection per turn: with pipelined input left
		// and another client's connection waiting for a worker, go to the
		// back.
		if c.rend > c.rpos && c.srv.pool.othersWaiting(c.key) {
			if err := c.flush(w.wake); err != nil {
				c.closeNow(reasonError)
				return
			}
			c.srv.pool.enqueue(c)
			return
		}
	}
}

// readHead parses the next request head into w.req, reading as needed.
// It returns false when the worker must let go of the connection.
func (c *conn) readHead(w *worker) bool {
	if c.rbuf == nil {
		c.rbuf = w.getBuf()
	}
	for {
		if c.rend > c.rpos {
			w.req.Reset()
			n, err := h1.ParseRequest(c.rbuf[c.rpos:c.rend], &w.req, &c.srv.limits)
			if err == nil {
				w.headLen = n
				return true
			}
			if err != h1.ErrNeedMore {
				c.fail(w, err)
				return false
			}
			if int(c.rend) == len(c.rbuf) && !c.growForHead() {
				c.fail(w, &h1.Error{Status: 431, Reason: "request head too large"})
				return false
			}
		} else {
			c.rpos, c.rend = 0, 0
		}
		// Before waiting for more input, send what pipelined requests produced.
		if len(c.out) > 0 {
			if err := c.flush(w.wake); err != nil {
				c.closeNow(reasonError)
				return false
			}
		}
		had := c.rend > c.rpos
		// A stream socket's read that returned less than it asked for
		// emptied the socket: skip the read that would say EAGAIN. Bytes
		// arriving since raise an edge that goIdle sees as readable.
		if !had && c.drained && !c.finEdge {
			c.drained = false
			if c.goIdle(w, c.clock(w)) {
				return false
			}
		}
		n, err := c.read()
		switch {
		case n > 0:
			if !had {
				c.headStart = c.clock(w)
			}
		case err == nil: // FIN
			if had {
				c.srv.stats.partialHeads.Add(1)
			}
			c.closeNow(reasonPeer)
			return false
		case err == unix.EAGAIN:
			if !had {
				if c.goIdle(w, c.clock(w)) {
					return false
				}
			} else if c.headTooSlow(evloop.Now()) {
				// The head timer fires on the loop, which may find the
				// connection owned (a byte arrived in the same turn) and
				// leave the judgement here: a client sending a byte per
				// tick would otherwise never be cut.
				c.srv.stats.headerTimeouts.Add(1)
				c.out = append(c.out, errorResponse(408, "the request head did not arrive in time", 0)...)
				c.flush(w.wake)
				c.closeInStages(reasonTimeout)
				return false
			} else if c.goReading() {
				return false
			}
		default:
			c.closeNow(reasonPeer)
			return false
		}
	}
}

// growForHead makes room for a longer head: compact, then grow up to the
// head limit. It returns false at the limit.
func (c *conn) growForHead() bool {
	if c.rpos > 0 {
		c.rend = int32(copy(c.rbuf, c.rbuf[c.rpos:c.rend]))
		c.rpos = 0
		return true
	}
	limit := c.srv.limits.MaxHeadBytes + 1
	if len(c.rbuf) >= limit {
		return false
	}
	nb := make([]byte, min(2*len(c.rbuf), limit))
	copy(nb, c.rbuf[:c.rend])
	putBuf(c.rbuf)
	c.rbuf = nb
	return true
}

// fail answers a malformed head with its status and a short reason, then
// closes in stages. The handler never runs.
func (c *conn) fail(w *worker, err error) {
	status, reason := 400, "bad request"
	var he *h1.Error
	if errors.As(err, &he) {
		status, reason = he.Status, he.Reason
	}
	c.srv.stats.badRequests.Add(1)
	c.out = append(c.out, errorResponse(status, reason, 0)...)
	c.flush(w.wake)
	c.closeInStages(reasonBadRequest)
}
