package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// reqContext is a request's context, cancelled when the handler returns,
// when the client goes away, or when the server closes.
//
// context.WithCancel would register every request with its parent (a lock
// and a map entry, both ways) and allocate twice. reqContext watches its
// parent only once somebody asks for Done or derives a context from it,
// which most handlers never do; and it implements AfterFunc, so contexts
// derived with context.WithCancel or WithTimeout need no goroutine.
//
// The server's own base context is context.Background (Close cancels
// active requests through their connections), so context.Cause finds no
// cancelCtx up the chain and reports Err, as it should. A BaseContext
// that is itself cancellable keeps that property only for its own cause.
type reqContext struct {
	parent context.Context // Immutable.
	conn   *conn           // Immutable once the request starts; nil in tests

	mu     sync.Mutex
	done   chan struct{} // guarded by mu: made by Done, closed on cancel
	err    error         // guarded by mu
	stop   func() bool   // guarded by mu: ends the watch on parent
	afters []*afterFunc  // guarded by mu
	// The first AfterFunc (the common case: one client or proxy watching
	// the request) lives here, without an allocation for it or the list.
	first    afterFunc     // guarded by mu
	afterBuf [1]*afterFunc // guarded by mu: afters' first backing array
	// blocking: the handler is in a Blocking wait. Written with mu held.
	blocking atomic.Bool
}

type afterFunc struct {
	f    func()
	used bool // guarded by reqContext.mu: ran or stopped
}

func newReqContext(parent context.Context) *reqContext { return &reqContext{parent: parent} }

func (c *reqContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }

// Value answers connKey with the request's connection (a pointer: no
// allocation); other keys go to the parent.
func (c *reqContext) Value(key any) any {
	switch key.(type) {
	case connKey:
		if c.conn != nil {
			return c.conn
		}
	case reqKey:
		return c
	}
	return c.parent.Value(key)
}

type connKey struct{}

// ConnInfoFromContext returns the connection a request arrived on, from
// the request's context (r.Context()).
func ConnInfoFromContext(ctx context.Context) (ConnInfo, bool) {
	c, ok := ctx.Value(connKey{}).(*conn)
	if !ok {
		return ConnInfo{}, false
	}
	return c.info(), true
}

// ConnIDFromContext returns the id of the connection a request arrived on
// (the ID of ConnInfo and ConnSnapshot), without allocating: for access
// logs that tell requests on one connection apart.
func ConnIDFromContext(ctx context.Context) (uint64, bool) {
	c, ok := ctx.Value(connKey{}).(*conn)
	if !ok {
		return 0, false
	}
	return c.id, true
}

func (c *reqContext) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.parent.Err(); err != nil {
		c.cancel(err)
		return err
	}
	return nil
}

func (c *reqContext) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	d := c.done
	watch := c.err == nil && c.stop == nil
	c.mu.Unlock()
	if watch {
		c.watchParent()
	}
	return d
}

// watchParent cancels c when its parent ends.
func (c *reqContext) watchParent() {
	if c.parent.Done() == nil {
		return
	}
	stop := context.AfterFunc(c.parent, func() { c.cancel(c.parent.Err()) })
	c.mu.Lock()
	if c.stop == nil && c.err == nil {
		c.stop = stop
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	stop()
}

// AfterFunc makes reqContext an "afterFuncer" to the context package: f
// runs in its own goroutine once c is done; stop prevents that.
func (c *reqContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	var a *afterFunc
	if c.first.f == nil {
		c.first.f = f
		a = &c.first
		c.afters = c.afterBuf[:0]
	} else {
		a = &afterFunc{f: f}
	}
	c.afters = append(c.afters, a)
	watch := c.stop == nil
	c.mu.Unlock()
	if watch {
		c.watchParent()
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.used {
			return false
		}
		a.used = true
		return true
	}
}

// cancel ends c with err; only the first call counts.
func (c *reqContext) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	for _, a := range c.afters {
		if !a.used {
			a.used = true
			go a.f()
		}
	}
	c.afters = nil
	stop := c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (c *reqContext) String() string { return "dally request context" }

// Blocking tells the server that the handler serving ctx's request is
// about to wait for something other than the processor (an upstream
// server, a database), until End. Meanwhile its worker does not count
// against the run bound (see Server.SchedTarget), which exists to keep the
// Go scheduler's order out of a saturated CPU and has nothing to bound in a
// wait: a connection queued behind the bound may start in its place. End
// is safe to call more than once; the server ends a wait left open when
// the handler returns, and a Blocking after that does nothing. Neither
// allocates. With a context from elsewhere (not a dally request), both do
// nothing.
func Blocking(ctx context.Context) BlockingWait {
	rc, ok := ctx.Value(reqKey{}).(*reqContext)
	if !ok || rc.conn == nil {
		return BlockingWait{}
	}
	rc.mu.Lock()
	if rc.err == nil && !rc.blocking.Load() {
		rc.blocking.Store(true)
		rc.conn.srv.pool.beginBlocking()
	}
	rc.mu.Unlock()
	return BlockingWait{rc: rc}
}

// BlockingWait is a wait begun by Blocking.
type BlockingWait struct{ rc *reqContext }

// End ends the wait: the worker counts against the run bound again.
func (b BlockingWait) End() {
	if b.rc != nil {
		b.rc.endBlocking()
	}
}

func (c *reqContext) endBlocking() {
	c.mu.Lock()
	if c.blocking.Load() {
		c.blocking.Store(false)
		c.conn.srv.pool.endBlocking()
	}
	c.mu.Unlock()
}

type reqKey struct{}
