// Package server is dally's HTTP/1.1 server. Server has the shape of
// net/http's Server and serves any http.Handler, but holds an idle keep-alive
// connection with no goroutine and no buffer: its descriptor waits in an
// event loop's poller, its state in a few hundred bytes. A connection gets a
// worker goroutine and buffers only while bytes arrive or a handler runs.
//
// Connection management follows RFC 9112 §9 (RFC 7230 §6), RFC 2616 §8.1 and
// the IETF draft "HTTP Connection Management": persistence by version and
// Connection tokens, HTTP/1.0 keep-alive, pipelining answered in order,
// Keep-Alive timeouts advertised to clients, and close in stages.
package server

import (
	"cmp"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/internal/evloop"
	"github.com/dallyhttp/dally/internal/policy"
	"golang.org/x/sys/unix"
)

// Defaults for the zero values of Server's fields.
const (
	DefaultIdleTimeout       = 60 * time.Second // the draft cites Mogul: most of the gain of persistence comes within a minute
	DefaultMinIdleWindow     = 2 * time.Second  // a connection that just answered is not closed sooner (race with the client's next request)
	DefaultHeaderTimeout     = 10 * time.Second
	DefaultMinHeaderRate     = 256 // bytes per second, judged after headerGrace
	DefaultBodyTimeout       = 30 * time.Second
	DefaultMinBodyRate       = 256 // bytes per second of waiting, judged after bodyGrace
	DefaultMinWriteRate      = 256 // bytes per second of waiting, judged after writeGrace
	DefaultWriteTimeout      = 30 * time.Second
	DefaultMaxRequests       = 1000 // per connection, as nginx's keepalive_requests
	DefaultLingerTimeout     = 2 * time.Second
	DefaultLingerBytes       = 256 << 10
	DefaultMaxBodyDrain      = 256 << 10 // unread request body discarded to keep the connection; more closes it
	DefaultMaxWorkers        = 10000
	DefaultSchedTarget       = 2 * time.Millisecond
	DefaultShutdownPollEvery = 20 * time.Millisecond

	// headerGrace is how long a head may take before its byte rate is judged.
	headerGrace = 2 * time.Second
	// bodyGrace is how long a body may be waited for before its rate is judged.
	bodyGrace = 2 * time.Second
	// writeGrace is how long a response may wait for room before its rate is judged.
	writeGrace = 2 * time.Second
)

// State is a connection's place in its life.
type State uint8

const (
	StateNew      State = iota // accepted, no byte yet
	StateIdle                  // between requests: no goroutine, no buffer
	StateReading               // part of a head has arrived; waiting for the rest
	StateActive                // owned by a worker: reading, handling or writing
	StateClosing               // write side shut down, draining reads until FIN or a bound
	StateClosed                // descriptor closed
	StateHijacked              // handed to a handler by Hijack
	StatePaused                // a greedy client's connection, not read for a while
)

var stateNames = [...]string{"new", "idle", "reading", "active", "closing", "closed", "hijacked", "paused"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// ConnInfo identifies a connection to hooks.
type ConnInfo struct {
	ID     uint64
	Remote net.Addr
}

// Server serves HTTP/1.x. The zero value (with Handler set) is ready to use;
// fields must not change after serving starts.
type Server struct {
	Addr    string       // TCP address for ListenAndServe; "" means ":http"
	Handler http.Handler // nil means http.DefaultServeMux

	// IdleTimeout is how long a persistent connection may wait for the
	// first byte of its next request. Advertised in Keep-Alive: timeout=.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// IdleTimeoutMin is the idle timeout under full pressure: the timeout in
	// force falls continuously from IdleTimeout to this as load rises (the
	// draft, §11). Default 5 s, at most IdleTimeout.
	IdleTimeoutMin time.Duration
	// MinIdleWindow: an idle connection that answered a request less than
	// this long ago is not closed by the idle timeout, a drain or shedding.
	// Default 2 s, at most IdleTimeout.
	MinIdleWindow time.Duration
	// MemoryBudget is the process memory at which memory pressure is full.
	// Default: half the machine's memory.
	MemoryBudget int64
	// ShedPolicy chooses the idle connection closed for a newcomer at
	// MaxConns: ShedLRU (default) or ShedRandom (for experiments).
	ShedPolicy ShedPolicy
	// MaxConnsPerClient caps one client address's (IPv6: /64's) open
	// connections; past it, newcomers get 503. Default: a quarter of
	// MaxConns, at least 256 (generous: many users share an address behind
	// NAT, and load generators open hundreds from one); -1 no cap.
	MaxConnsPerClient int
	// DisableGreedyControl turns off pausing and 503s for clients above
	// their fair share while the server is saturated.
	DisableGreedyControl bool
	// HeaderTimeout bounds the time from a head's first byte to its end.
	// Default 10 s. Heads slower than MinHeaderRate bytes/s after a 2 s grace
	// are cut short too (slowloris).
	HeaderTimeout time.Duration
	MinHeaderRate int
	// BodyTimeout is how long a handler's read of the request body may wait
	// for the next byte. Default 30 s.
	BodyTimeout time.Duration
	// MinBodyRate is the slowest a request body may arrive, in bytes per
	// second of waiting for it, judged after a 2 s grace; slower, the read
	// fails as a timeout and the connection closes after the response.
	// Default DefaultMinBodyRate; -1 turns it off.
	MinBodyRate int
	// WriteTimeout is how long a write may wait for the client to make room.
	// Default 30 s.
	WriteTimeout time.Duration
	// MinWriteRate is the slowest a client may take a response, in bytes
	// per second of waiting for it to make room, judged after a 2 s grace;
	// slower, the write fails as a timeout and the connection closes.
	// Default DefaultMinWriteRate; -1 turns it off.
	MinWriteRate int
	// MaxRequestsPerConn ends a connection after this many requests (the
	// last response carries Connection: close). Default 1000; -1 unlimited.
	MaxRequestsPerConn int
	// MaxConns bounds open connections. At the bound a newcomer is admitted
	// by closing the least recently used idle connection; with none idle it
	// is answered 503 with Retry-After. Default: RLIMIT_NOFILE less 128.
	MaxConns int
	// MaxHeaderBytes bounds a request head. Default h1.DefaultLimits.
	MaxHeaderBytes int
	// MaxWorkers bounds handler goroutines. Default 10000.
	MaxWorkers int
	// SchedTarget is the scheduling delay (the runtime's, 90th percentile
	// over a 100 ms tick) above which fewer connections run at once: with
	// the CPU saturated, the rest wait in the server's fair queue (one
	// request per connection per turn, clients by deficit round robin)
	// instead of the Go scheduler's first-come order, so that a client with
	// one request is not served after every busy connection (the capture
	// effect). While the delay exceeds the target the bound falls to what
	// runs times target/delay (at most 3/4 of it), never below
	// max(8, 4×GOMAXPROCS); under a quarter of it, it doubles while
	// connections wait and creeps back when none do, up to MaxWorkers.
	// See policy.RunLimit.
	// Default 2 ms; negative turns the bound off.
	SchedTarget time.Duration
	// LingerTimeout and LingerBytes bound the drain of a closing connection.
	LingerTimeout time.Duration
	LingerBytes   int
	// Loops is the number of event loops. Default: GOMAXPROCS, at most 4.
	Loops int
	// ExtraMethods are request methods, beyond RFC 9110's and PATCH, that
	// reach the handler; any other method is answered 501 (RFC 9110 §9.1).
	ExtraMethods []string
	// DrainSpread spreads the close of idle connections during Shutdown
	// over this long: those open when the drain begins are closed at an
	// even pace (each once its MinIdleWindow has passed), so that their
	// clients reconnect elsewhere gradually rather than all at once. Zero
	// closes them all as soon as their window allows. Shutdown's context
	// deadline still ends everything. Default 0.
	DrainSpread time.Duration
	// ConnState, if set, is called when a connection changes state.
	ConnState func(ConnInfo, State)
	// ErrorLog receives errors from accepting and from handlers' panics;
	// nil means the log package's standard logger.
	ErrorLog *log.Logger
	// BaseContext returns the base context for requests on a listener.
	BaseContext func(net.Listener) context.Context

	once     sync.Once
	initErr  error
	loops    []*evloop.Loop
	nextLoop atomic.Uint32
	pool     workerPool
	idle     idleList
	stats    counters
	methods  map[string]bool
	limits   h1.Limits

	idlePolicy policy.IdleTimeout
	press      pressure
	clientsMu  sync.Mutex
	clients    policy.Clients // guarded by clientsMu
	sweepMu    sync.Mutex
	sweepBuf   []*conn     // guarded by sweepMu
	drain      drainSpread // guarded by sweepMu

	mu        sync.Mutex
	listeners map[net.Listener]*acceptor
	conns     map[*conn]struct{}
	baseCtx   context.Context
	loopsDone sync.WaitGroup
	draining  atomic.Bool
	closed    atomic.Bool
}

// ShedPolicy chooses which idle connection is closed when a newcomer needs
// a slot at MaxConns.
type ShedPolicy = policy.ShedPolicy

const (
	ShedLRU    = policy.ShedLRU    // the least recently used (the draft, §5)
	ShedRandom = policy.ShedRandom // one at random: the baseline LRU is compared with
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

func (s *Server) init() error {
	s.once.Do(func() {
		if s.IdleTimeout == 0 {
			s.IdleTimeout = DefaultIdleTimeout
		}
		if s.MinIdleWindow == 0 {
			s.MinIdleWindow = DefaultMinIdleWindow
		}
		s.idlePolicy = policy.IdleTimeout{
			Max:       s.IdleTimeout,
			Min:       min(cmp.Or(s.IdleTimeoutMin, policy.DefaultIdleMin), s.IdleTimeout),
			MinWindow: min(s.MinIdleWindow, s.IdleTimeout),
		}.WithDefaults()
		if s.HeaderTimeout == 0 {
			s.HeaderTimeout = DefaultHeaderTimeout
		}
		if s.MinHeaderRate == 0 {
			s.MinHeaderRate = DefaultMinHeaderRate
		}
		if s.BodyTimeout == 0 {
			s.BodyTimeout = DefaultBodyTimeout
		}
		if s.MinBodyRate == 0 {
			s.MinBodyRate = DefaultMinBodyRate
		}
		if s.MinWriteRate == 0 {
			s.MinWriteRate = DefaultMinWriteRate
		}
		if s.WriteTimeout == 0 {
			s.WriteTimeout = DefaultWriteTimeout
		}
		if s.MaxRequestsPerConn == 0 {
			s.MaxRequestsPerConn = DefaultMaxRequests
		}
		if s.MaxConns == 0 {
			s.MaxConns = defaultMaxConns()
		}
		if s.MaxConnsPerClient == 0 {
			s.MaxConnsPerClient = max(256, s.MaxConns/4)
		}
		s.clients.MaxConnsPerClient = s.MaxConnsPerClient
		if s.MaxWorkers == 0 {
			s.MaxWorkers = DefaultMaxWorkers
		}
		if s.SchedTarget == 0 {
			s.SchedTarget = DefaultSchedTarget
		}
		if s.LingerTimeout == 0 {
			s.LingerTimeout = DefaultLingerTimeout
		}
		if s.LingerBytes == 0 {
			s.LingerBytes = DefaultLingerBytes
		}
		if s.Loops == 0 {
			s.Loops = min(runtime.GOMAXPROCS(0), 4)
		}
		s.limits = h1.DefaultLimits
		if s.MaxHeaderBytes > 0 {
			// At most 1 GiB: the read buffer's offsets are 32-bit.
			s.limits.MaxHeadBytes = min(s.MaxHeaderBytes, 1<<30)
		}
		s.methods = map[string]bool{} // the standard ones: standardMethod
		for _, m := range s.ExtraMethods {
			s.methods[m] = true
		}
		s.listeners = map[net.Listener]*acceptor{}
		s.conns = map[*conn]struct{}{}
		// Not cancellable: Close cancels active requests through their
		// connections (see reqContext).
		s.baseCtx = context.Background()
		s.pool.init(s)
		s.idle.init()
		for i := 0; i < s.Loops; i++ {
			l, err := evloop.New()
			if err != nil {
				s.initErr = err
				return
			}
			if i == 0 {
				l.OnTick = s.sweep
			}
			s.loops = append(s.loops, l)
		}
		s.initPressure()
		for _, l := range s.loops {
			s.loopsDone.Add(1)
			go func() {
				defer s.loopsDone.Done()
				if err := l.Run(); err != nil {
					s.logf("dally: event loop: %v", err)
				}
			}()
		}
	})
	return s.initErr
}

func defaultMaxConns() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1000
	}
	// Keep a reserve for listeners, the pollers and the files handlers open.
	const reserve = 128
	if rl.Cur < 2*reserve {
		return int(rl.Cur) / 2
	}
	return int(rl.Cur) - reserve
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

func (s *Server) handler() http.Handler {
	if s.Handler != nil {
		return s.Handler
	}
	return http.DefaultServeMux
}

// ListenAndServe listens on s.Addr and serves.
func (s *Server) ListenAndServe() error {
	if s.closed.Load() || s.draining.Load() {
		return ErrServerClosed
	}
	addr := s.Addr
	if addr == "" {
		addr = ":http"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on l until Shutdown or Close. The listener's
// connections must expose a descriptor (TCP or Unix sockets do); dally
// takes each descriptor into its event loops. A listener that exposes its
// own descriptor (*net.TCPListener, *net.UnixListener) is accepted from on
// an event loop with accept4, so no net.Conn is ever built.
func (s *Server) Serve(l net.Listener) error {
	if err := s.init(); err != nil {
		l.Close()
		return err
	}
	ctx := s.baseCtx
	if s.BaseContext != nil {
		ctx = s.BaseContext(l)
	}
	a := &acceptor{s: s, l: l, ctx: ctx, done: make(chan error, 1), fd: -1}
	if sc, ok := l.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { a.fd = int(fd) })
		}
	}
	if a.fd >= 0 {
		a.loop = s.loops[0] // before a is published: Close may stop it at once
	}
	s.mu.Lock()
	if s.closed.Load() || s.draining.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = a
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var err error
	if a.fd >= 0 {
		// Under a.mu, so that a stop that came first is seen and the
		// descriptor (closed by then, its number free for reuse) is not
		// registered after it.
		a.mu.Lock()
		if !a.stopped {
			err = a.loop.Add(a.fd, a)
		}
		a.mu.Unlock()
		if err == nil {
			err = <-a.done
		}
	} else {
		err = s.acceptLoop(l, ctx)
	}
	if s.closed.Load() || s.draining.Load() {
		return ErrServerClosed
	}
	return err
}

// acceptsPerTurn bounds how many connections one loop turn accepts, so a
// connection flood cannot starve the events of connections already open;
// the rest are taken at the next turn.
const acceptsPerTurn = 64

// acceptor takes connections from a listener's descriptor on an event loop.
type acceptor struct {
	// Immutable after Serve registers it.
	s    *Server
	l    net.Listener
	ctx  context.Context
	fd   int
	loop *evloop.Loop
	done chan error

	timer   evloop.Timer
	mu      sync.Mutex
	stopped bool          // guarded by mu
	backoff time.Duration // owned by the loop goroutine
}

func (a *acceptor) OnEvent(uint32) { a.accept() }
func (a *acceptor) OnTimer(int64)  { a.accept() }
func (a *acceptor) finish(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	a.stopped = true
	a.loop.Remove(a.fd, true)
	a.done <- err
}

// stop ends Serve: the descriptor leaves the loop before the listener
// closes, so its number cannot be reused under the acceptor.
func (a *acceptor) stop() {
	if a.fd >= 0 {
		a.finish(nil)
	}
	a.l.Close()
}

func (a *acceptor) accept() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	for i := 0; i < acceptsPerTurn; i++ {
		nfd, sa, err := acceptNonblock(a.fd)
		switch {
		case err == nil:
			a.backoff = 0
			a.s.newConn(nfd, sockaddrToAddr(sa), a.ctx)
			continue
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case isTemporaryAccept(err):
			// Out of descriptors or memory: count, say so, and retry after
			// a pause that doubles up to a second; serving goes on.
			if a.backoff == 0 {
				a.backoff = 5 * time.Millisecond
			} else if a.backoff *= 2; a.backoff > time.Second {
				a.backoff = time.Second
			}
			a.s.stats.acceptErrors.Add(1)
			a.s.logf("dally: accept: %v; retrying in %v", err, a.backoff)
			a.loop.Schedule(&a.timer, a, evloop.Now()+int64(a.backoff))
			return
		default:
			a.mu.Unlock()
			a.finish(os.NewSyscallError("accept4", err))
			a.mu.Lock()
			return
		}
	}
	// More may be waiting; with edge-triggered readiness no new event
	// would say so, so come back at the next turn.
	a.loop.Submit(a.accept)
}

// acceptLoop serves a listener that does not expose its descriptor:
// Accept, then take the descriptor from each connection.
func (s *Server) acceptLoop(l net.Listener, ctx context.Context) error {
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if isTemporaryAccept(err) && !s.closed.Load() && !s.draining.Load() {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				s.stats.acceptErrors.Add(1)
				s.logf("dally: accept: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		fd, err := takeFD(nc)
		if err != nil {
			s.logf("dally: %v", err)
			nc.Close()
			continue
		}
		s.newConn(fd, nc.RemoteAddr(), ctx)
	}
}

func isTemporaryAccept(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}

// takeFD duplicates a connection's descriptor, non-blocking, and closes the
// connection, so the event loop owns the only copy.
func takeFD(nc net.Conn) (int, error) {
	sc, ok := nc.(interface {
		File() (*os.File, error)
	})
	if !ok {
		return -1, errors.New("dally: listener's connection exposes no descriptor")
	}
	f, err := sc.File()
	nc.Close()
	if err != nil {
		return -1, err
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return -1, os.NewSyscallError("dup", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setnonblock", err)
	}
	return fd, nil
}

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return &net.TCPAddr{}
}

// Shutdown stops accepting, lets in-flight requests finish with
// Connection: close, closes idle connections once their minimum idle window
// has passed, and closes the rest in stages. When ctx ends first, Shutdown
// closes what remains and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	s.draining.Store(true)
	s.closeListeners()
	t := time.NewTicker(DefaultShutdownPollEvery)
	defer t.Stop()
	for {
		s.sweep(evloop.Now())
		if s.stats.open.Load() == 0 {
			s.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close closes the listeners and every connection at once: idle and closing
// ones directly, active ones by shutting their socket down under the worker
// (which then closes it). Handlers' contexts are cancelled.
func (s *Server) Close() error {
	if err := s.init(); err != nil {
		return err
	}
	if s.closed.Swap(true) {
		return nil
	}
	s.closeListeners()
	s.mu.Lock()
	all := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.abort(reasonDrain)
	}
	for _, l := range s.loops {
		l.Stop()
	}
	s.loopsDone.Wait()
	s.pool.close()
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.listeners {
		a.stop()
	}
}
