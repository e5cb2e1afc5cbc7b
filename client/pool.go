package client

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// hostPool holds the connections to one host (scheme, host, port, proxy).
type hostPool struct {
	t   *Transport // Immutable
	key hostKey    // Immutable

	mu      sync.Mutex
	idle    []*conn     // guarded by mu: least recently used first
	active  []*conn     // guarded by mu: conns with requests in flight (pipelining only)
	nconns  int         // guarded by mu: open or being dialled
	waiters []*waiter   // guarded by mu: FIFO
	timer   *time.Timer // guarded by mu: the earliest idle expiry
	timerAt time.Time   // guarded by mu

	// learned is the shortest idle time after which the server was seen
	// to have closed a connection (its FIN at reuse, or the idle race):
	// for a server that advertises no timeout, a request that cannot be
	// retried takes no connection idle longer than about this.
	// guarded by mu; forgotten after learnTTL.
	learned   time.Duration
	learnedAt time.Time

	// values: the last response's field values (makeHeader).
	values atomic.Pointer[valueCache]
}

// learnTTL: a learned server timeout is forgotten after this long, so a
// server that raised its timeout (or closed early once, shedding) gets
// its connections used fully again.
const learnTTL = 5 * time.Minute

// learnLocked records that the server closed a connection idle for d.
func (p *hostPool) learnLocked(d time.Duration, now time.Time) {
	if d <= 0 {
		return
	}
	if p.learned == 0 || d < p.learned || now.Sub(p.learnedAt) > learnTTL {
		p.learned = d
	}
	p.learnedAt = now
}

// learnedLimitLocked is the idle time past which a connection is not
// reused: the learned timeout less the same margin as a hint's; 0 for none.
func (p *hostPool) learnedLimitLocked(now time.Time) time.Duration {
	if p.learned == 0 || now.Sub(p.learnedAt) > learnTTL {
		return 0
	}
	return p.learned - min(maxHintMargin, p.learned/4)
}

// waiter is a request queued for a connection.
type waiter struct {
	rq    *reqState
	fresh bool // a retry: only a new connection will do
	ch    chan grant
}

// waiterPool recycles waiters and their channels: a request that has to
// queue costs no allocation. A waiter goes back only once its channel is
// drained and no pool references it.
var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan grant, 1)} }}

func putWaiter(w *waiter) {
	w.rq = nil
	waiterPool.Put(w)
}

// grant is what a waiter receives: a connection already assigned to it,
// or a slot to dial one.
type grant struct {
	c    *conn
	dial bool
}

func (t *Transport) pool(k hostKey) *hostPool {
	// A proxy's requests go to one upstream, or a few in turn: the last
	// pool found is most often the one, and is compared, not hashed.
	if p := t.lastPool.Load(); p != nil && p.key == k {
		return p
	}
	p := t.poolSlow(k)
	t.lastPool.Store(p)
	return p
}

func (t *Transport) poolSlow(k hostKey) *hostPool {
	t.mu.Lock()
	p := t.pools[k]
	if p == nil {
		p = &hostPool{t: t, key: k}
		t.pools[k] = p
	}
	t.mu.Unlock()
	return p
}

// get finds a connection for rq: the most recently used idle one that is
// still alive, else a new one within MaxConnsPerHost, else a place on a
// proven connection's pipeline, else a turn in the queue. fresh (a retry)
// skips idle and pipelined connections.
func (p *hostPool) get(ctx context.Context, rq *reqState, rt *route, fresh bool) (*conn, error) {
	t := p.t
	for {
		p.mu.Lock()
		if !fresh {
			now := time.Now()
			for n := len(p.idle); n > 0; n = len(p.idle) {
				c := p.idle[n-1]
				p.idle[n-1] = nil
				p.idle = p.idle[:n-1]
				t.stats.idle.Add(-1)
				if !now.Before(c.expires) {
					p.dropLocked(c, c.expiry)
					continue
				}
				if l := p.learnedLimitLocked(now); l > 0 && !rq.retryable && now.Sub(c.idleAt) >= l {
					// A request that cannot be retried does not bet on a
					// connection idle near the server's timeout. Retryable
					// ones still use it: the peek and one retry cover them.
					p.dropLocked(c, closeLearned)
					continue
				}
				if rq.retryable && now.Sub(c.idleAt) < t.peekSkipIdle() {
					// Back in use within PeekSkipIdle of its last response
					// (under load, the most recently used idle connection
					// is microseconds old): a close racing this request is
					// recovered by one retry on a fresh connection, so the
					// peek's system call is spared. A request that cannot
					// be retried always looks.
					p.assignLocked(c, rq, now)
					p.mu.Unlock()
					return c, nil
				}
				p.mu.Unlock()
				// The FIN check (RFC 9112 §9.3.1: a client must be ready
				// for the server's close): a peek, just before the write.
				alive := c.alive()
				p.mu.Lock()
				if !alive {
					p.learnLocked(now.Sub(c.idleAt), now)
					p.dropLocked(c, closeFIN)
					p.sweepLocked()
					continue
				}
				p.assignLocked(c, rq, now)
				p.mu.Unlock()
				return c, nil
			}
		}
		max := int(t.maxConns.Load())
		if max == 0 || p.nconns < max {
			p.nconns++
			t.stats.open.Add(1)
			p.mu.Unlock()
			return p.dialFor(ctx, rq, rt)
		}
		if !fresh && rq.pipe {
			if c := p.pipelineLocked(); c != nil {
				p.assignLocked(c, rq, time.Time{})
				p.mu.Unlock()
				return c, nil
			}
		}
		if fresh && len(p.idle) > 0 {
			// Make room: the least recently used idle connection goes.
			c := p.idle[0]
			p.removeIdleLocked(0)
			p.dropLocked(c, closeUser)
			p.mu.Unlock()
			continue
		}
		w := waiterPool.Get().(*waiter)
		w.rq, w.fresh = rq, fresh
		p.waiters = append(p.waiters, w)
		p.mu.Unlock()
		select {
		case g := <-w.ch:
			putWaiter(w)
			if g.dial {
				return p.dialFor(ctx, rq, rt)
			}
			return g.c, nil
		case <-ctx.Done():
			p.mu.Lock()
			if p.removeWaiterLocked(w) {
				p.mu.Unlock()
				putWaiter(w)
				return nil, ctx.Err()
			}
			p.mu.Unlock()
			// Granted while giving up: hand it back.
			g := <-w.ch
			putWaiter(w)
			if g.dial {
				p.mu.Lock()
				p.nconns--
				t.stats.open.Add(-1)
				p.grantSlotsLocked()
				p.mu.Unlock()
			} else {
				rq.abandon(false)
			}
			return nil, ctx.Err()
		}
	}
}

func (p *hostPool) dialFor(ctx context.Context, rq *reqState, rt *route) (*conn, error) {
	c, err := p.t.dial(ctx, p, rt)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.nconns--
		p.t.stats.open.Add(-1)
		p.grantSlotsLocked()
		return nil, err
	}
	p.assignLocked(c, rq, time.Time{})
	return c, nil
}

func (p *hostPool) removeWaiterLocked(w *waiter) bool {
	for i, x := range p.waiters {
		if x == w {
			copy(p.waiters[i:], p.waiters[i+1:])
			p.waiters[len(p.waiters)-1] = nil
			p.waiters = p.waiters[:len(p.waiters)-1]
			return true
		}
	}
	return false
}

func (p *hostPool) popWaiterLocked() *waiter {
	w := p.waiters[0]
	copy(p.waiters, p.waiters[1:])
	p.waiters[len(p.waiters)-1] = nil
	p.waiters = p.waiters[:len(p.waiters)-1]
	return w
}

// grantSlotsLocked gives free slots to waiters, first come first served.
func (p *hostPool) grantSlotsLocked() {
	for len(p.waiters) > 0 {
		max := int(p.t.maxConns.Load())
		if max != 0 && p.nconns >= max {
			return
		}
		w := p.popWaiterLocked()
		p.nconns++
		p.t.stats.open.Add(1)
		w.ch <- grant{dial: true}
	}
}

// assignLocked gives c to rq, chaining rq's write and read turns behind the
// requests already on c (pipelining). now is the clock get read when it
// took c from the idle list (zero otherwise: read here when needed).
func (p *hostPool) assignLocked(c *conn, rq *reqState, now time.Time) {
	rq.c = c
	rq.now = now
	rq.reused = c.served > 0 || c.inflight > 0
	if c.inflight == 0 && !c.idleAt.IsZero() {
		if now.IsZero() {
			now = time.Now()
		}
		rq.idleFor = now.Sub(c.idleAt)
	}
	rq.pipelined = c.inflight > 0
	if c.inflight == 0 && p.t.pipelineDepth() > 1 {
		p.active = append(p.active, c)
	}
	c.inflight++
	if !rq.pipe {
		c.exclusive = true
	}
	if c.left > 0 {
		c.left--
	}
	if p.t.pipelineDepth() <= 1 {
		return // one request at a time: no turns to chain
	}
	if last := c.lastW; last != nil {
		if last.myWrite == nil {
			last.myWrite = make(chan struct{})
		}
		rq.prevWrite = last.myWrite
	}
	c.lastW = rq
	if last := c.lastR; last != nil {
		if last.myRead == nil {
			last.myRead = make(chan struct{})
		}
		rq.prevRead = last.myRead
	}
	c.lastR = rq
}

// pipelineLocked returns the proven connection with the fewest requests in
// flight that can take one more, or nil.
func (p *hostPool) pipelineLocked() *conn {
	depth := p.t.pipelineDepth()
	var best *conn
	for _, c := range p.active {
		if !c.proven || c.exclusive || c.dead.Load() || c.left == 0 || c.inflight >= depth {
			continue
		}
		if best == nil || c.inflight < best.inflight {
			best = c
		}
	}
	return best
}

// offerPipelineLocked: c just proved itself persistent; queued pipelinable
// requests at the head of the queue go on it at once.
func (p *hostPool) offerPipelineLocked(c *conn) {
	depth := p.t.pipelineDepth()
	for len(p.waiters) > 0 && p.waiters[0].rq.pipe && !p.waiters[0].fresh &&
		!c.exclusive && !c.dead.Load() && c.left != 0 && c.inflight < depth {
		w := p.popWaiterLocked()
		p.assignLocked(c, w.rq, time.Time{})
		w.ch <- grant{c: c}
	}
}

func (p *hostPool) removeActiveLocked(c *conn) {
	for i, x := range p.active {
		if x == c {
			last := len(p.active) - 1
			p.active[i] = p.active[last]
			p.active[last] = nil
			p.active = p.active[:last]
			return
		}
	}
}

func (p *hostPool) removeIdleLocked(i int) {
	copy(p.idle[i:], p.idle[i+1:])
	p.idle[len(p.idle)-1] = nil
	p.idle = p.idle[:len(p.idle)-1]
	p.t.stats.idle.Add(-1)
}

// dropLocked closes c and frees its slot (the caller grants it).
func (p *hostPool) dropLocked(c *conn, r closeReason) {
	if c.dropped {
		return
	}
	c.dropped = true
	c.dead.Store(true)
	c.closeNC()
	c.putBuf()
	p.nconns--
	p.t.stats.open.Add(-1)
	p.t.stats.closed[r].Add(1)
	if p.t.pipelineDepth() > 1 {
		p.removeActiveLocked(c)
	}
	p.grantSlotsLocked()
}

// done ends rq's turn on its connection. reuse false ends the connection
// (the requests pipelined behind rq then fail as unanswered and retry).
func (p *hostPool) done(rq *reqState, reuse bool, why closeReason) {
	c := rq.c
	if rq.stop != nil {
		if !rq.stop() {
			// The cancel callback has started: it may be closing the
			// connection right now, so the connection is not reused,
			// nor rq's memory (ReleaseResponse).
			rq.cbStarted = true
			if reuse {
				reuse, why = false, closeCanceled
			}
		}
		rq.stop = nil
	}
	c.owner.CompareAndSwap(rq, nil)
	if c.broken.Load() && reuse {
		reuse, why = false, closeError
		if rq.ctx.Err() != nil {
			why = closeCanceled
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c.inflight--
	if !rq.pipe {
		c.exclusive = false
	}
	if rq.myRead != nil {
		close(rq.myRead)
	}
	rq.readDone = true
	if c.lastR == rq {
		c.lastR = nil
	}
	if !reuse && (!c.dead.Load() || why == closeError) {
		c.dead.Store(true)
		c.why = why // an error outranks the reason the head gave
	}
	if c.dead.Load() && c.inflight > 0 {
		c.closeNC() // the requests behind fail now, not at a timeout
	}
	if c.inflight > 0 {
		return
	}
	if p.t.pipelineDepth() > 1 {
		p.removeActiveLocked(c)
	}
	max := int(p.t.maxConns.Load())
	switch {
	case c.dead.Load():
		p.dropLocked(c, c.why)
	case c.left == 0:
		p.dropLocked(c, closeMax)
	case c.r != c.w:
		p.dropLocked(c, closeError) // bytes nobody asked for
	case max != 0 && p.nconns > max:
		p.dropLocked(c, closeUser) // the bound was lowered
	default:
		c.clearHead() // the buffer stays while c is warm (idleLocked)
		p.idleLocked(c)
	}
}

// idleLocked hands c to the first waiter, or parks it in the idle list.
func (p *hostPool) idleLocked(c *conn) {
	if len(p.waiters) > 0 {
		if p.waiters[0].fresh {
			// A retry wants a new connection: this one makes room.
			p.dropLocked(c, closeUser)
			return
		}
		w := p.popWaiterLocked()
		rq := w.rq
		p.assignLocked(c, rq, time.Time{})
		w.ch <- grant{c: c} // w is the waiter's again: not touched after
		if c.proven && rq.pipe && p.t.pipelineDepth() > 1 {
			p.offerPipelineLocked(c)
		}
		return
	}
	now := time.Now()
	c.idleAt = now
	c.expires, c.expiry = p.t.idleDeadline(now, c.hint)
	p.idle = append(p.idle, c)
	p.t.stats.idle.Add(1)
	if k := len(p.idle) - 1 - warmIdle; k >= 0 {
		// Reused from the top: the one now below the warm ones gives its
		// buffer back (idle memory). It is idle: the pool's, under mu.
		p.idle[k].putBuf()
	}
	maxIdle := p.t.MaxIdleConnsPerHost
	if maxIdle <= 0 {
		maxIdle = int(p.t.maxConns.Load())
	}
	if maxIdle > 0 && len(p.idle) > maxIdle {
		old := p.idle[0]
		p.removeIdleLocked(0)
		p.dropLocked(old, closeIdleLimit)
	}
	p.armLocked(c.expires)
}

// idleDeadline is when a connection idle from now is closed: the earlier of
// IdleTimeout and the server's Keep-Alive: timeout less a margin, so the
// client closes first and never writes into the server's close. The margin
// is a quarter of the hint, at most maxHintMargin: it covers the one-way
// delay (the server's clock starts when it sent the response, ours when we
// read it) and a server's coarse timer (dally's wheel ticks at 100 ms).
func (t *Transport) idleDeadline(now time.Time, hintSeconds int) (time.Time, closeReason) {
	d, why := t.idleTimeout(), closeIdleTimeout
	if hintSeconds > 0 {
		h := time.Duration(hintSeconds) * time.Second
		h -= min(maxHintMargin, h/4)
		if h < d {
			d, why = h, closeServerHint
		}
	}
	return now.Add(d), why
}

// armLocked makes the pool's one timer fire by at.
func (p *hostPool) armLocked(at time.Time) {
	if p.timer != nil && !p.timerAt.IsZero() && !at.Before(p.timerAt) {
		return
	}
	p.timerAt = at
	d := time.Until(at)
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.expire)
	} else {
		p.timer.Reset(d)
	}
}

// expire closes the idle connections whose deadline has passed, least
// recently used first, and re-arms the timer for the next one.
func (p *hostPool) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.timerAt = time.Time{}
	var next time.Time
	for i := 0; i < len(p.idle); {
		c := p.idle[i]
		if !now.Before(c.expires) {
			p.removeIdleLocked(i)
			p.dropLocked(c, c.expiry)
			continue
		}
		if next.IsZero() || c.expires.Before(next) {
			next = c.expires
		}
		i++
	}
	if !next.IsZero() {
		p.armLocked(next)
	}
}

// sweepLocked peeks at every idle connection after one was found closed:
// a server usually closes many at once (its idle timer, a restart), and
// a dead connection found now is not found by the next request, nor kept
// open in CLOSE_WAIT until its deadline. One recvfrom per idle connection,
// only on that event: idle connections cost nothing in between.
func (p *hostPool) sweepLocked() {
	now := time.Now()
	for i := 0; i < len(p.idle); {
		c := p.idle[i]
		if !c.alive() {
			p.learnLocked(now.Sub(c.idleAt), now)
			p.removeIdleLocked(i)
			p.dropLocked(c, closeFIN)
			continue
		}
		i++
	}
}

func (p *hostPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		c := p.idle[0]
		p.removeIdleLocked(0)
		p.dropLocked(c, closeUser)
	}
}

var _ = http.NoBody
