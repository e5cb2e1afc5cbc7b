package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
)

// gate holds the proxy to at most 2N open upstream connections for N open
// client connections (RFC 2616 §8.1.4: "A proxy SHOULD use up to 2*N
// connections to another server"). N comes from the server's ConnState
// hook; requests in flight are a floor under it (each belongs to a distinct
// client connection), so the bound holds even without the hook, with N
// then the peak of concurrent requests.
//
// The default transport dials through the gate: a dial waits while the
// bound is reached (asking the transport to close idle connections, which
// frees a slot), and every connection it made gives its slot back when it
// closes. When N falls below half the open connections, idle ones are
// closed.
type gate struct {
	mu       sync.Mutex
	hooked   bool          // guarded by mu: ConnState has been called
	nclients int           // guarded by mu: open client connections (ConnState)
	inflight int           // guarded by mu: requests in flight
	peak     int           // guarded by mu: most requests in flight at once
	lastLim  int           // guarded by mu: the limit waiters and setMax last saw
	open     int           // guarded by mu: open upstream connections made by dial
	changed  chan struct{} // guarded by mu: closed and replaced when a slot frees

	closeIdle func()    // Immutable after init: the transport's CloseIdleConnections, or nil
	setMax    func(int) // Immutable after init: a MaxConnsSetter's, or nil
}

func (g *gate) init() { g.changed = make(chan struct{}) }

// limit is 2N, at least 2. Without the hook N is the peak of requests in
// flight, which never falls, so idle connections are then left to the
// transport's idle timeout. Called with mu held or before serving.
func (g *gate) limit() int {
	if !g.hooked {
		return 2 * max(g.peak, 1)
	}
	return 2 * max(g.nclients, g.inflight, 1)
}

func (g *gate) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gate) clients(delta int) {
	g.mu.Lock()
	g.hooked = true
	g.nclients = max(g.nclients+delta, 0)
	g.adjustLocked()
}

func (g *gate) begin() {
	g.mu.Lock()
	g.inflight++
	g.peak = max(g.peak, g.inflight)
	g.adjustLocked()
}

func (g *gate) end() {
	g.mu.Lock()
	g.inflight--
	g.adjustLocked()
}

// adjustLocked tells waiters the limit moved, and trims idle upstream
// connections above it. It unlocks mu.
func (g *gate) adjustLocked() {
	lim := g.limit()
	over := g.open > lim
	moved := lim != g.lastLim
	g.lastLim = lim
	if moved {
		g.notifyLocked()
	}
	g.mu.Unlock()
	if moved && g.setMax != nil {
		g.setMax(lim)
	}
	if over && g.closeIdle != nil {
		g.closeIdle()
	}
}

// dial opens an upstream connection once the bound allows one.
func (g *gate) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	asked := false
	for {
		g.mu.Lock()
		if g.open < g.limit() {
			g.open++
			g.mu.Unlock()
			break
		}
		ch := g.changed
		g.mu.Unlock()
		if !asked && g.closeIdle != nil {
			// Idle connections (to this or another upstream) hold slots
			// that a request needs now.
			asked = true
			go g.closeIdle()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		g.release()
		return nil, err
	}
	return &gatedConn{Conn: c, g: g}, nil
}

func (g *gate) release() {
	g.mu.Lock()
	g.open--
	g.notifyLocked()
	g.mu.Unlock()
}

// gatedConn gives its slot back once, on the first Close. It passes the
// socket on (syscall.Conn), so that dally's client can peek at an idle
// connection for the upstream's FIN before reusing it.
type gatedConn struct {
	net.Conn
	g    *gate
	once sync.Once
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.g.release)
	return err
}

var errNoRawConn = errors.New("proxy: upstream connection has no file descriptor")

func (c *gatedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoRawConn
}
