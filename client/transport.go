package client

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/h1"
)

// Defaults.
const (
	// DefaultMaxConnsPerHost is RFC 2616 §8.1.4's "SHOULD NOT maintain more
	// than 2 connections with any server or proxy", for a single-user
	// client. A proxy with N clients sets 2N.
	DefaultMaxConnsPerHost = 2
	// DefaultIdleTimeout is the draft's 60 s (after Mogul).
	DefaultIdleTimeout = 60 * time.Second
	// DefaultExpectContinueTimeout is how long a body waits for 100 Continue
	// before it is sent anyway (RFC 9110 §10.1.1).
	DefaultExpectContinueTimeout = time.Second
	// DefaultPeekSkipIdle: under load the most recently used idle
	// connection is microseconds to a millisecond old.
	DefaultPeekSkipIdle = time.Millisecond
	// maxHintMargin bounds the margin taken off a server's Keep-Alive:
	// timeout (see hintDeadline).
	maxHintMargin = time.Second
)

// Transport is an http.RoundTripper over HTTP/1.1. The zero value is ready;
// exported fields must not change once it is in use, except through the
// setter methods.
type Transport struct {
	// MaxConnsPerHost bounds connections (open or being dialled) per host.
	// 0 means DefaultMaxConnsPerHost; negative means no bound. Change it at
	// run time with SetMaxConnsPerHost.
	MaxConnsPerHost int
	// MaxIdleConnsPerHost bounds idle connections per host: past it the
	// least recently used is closed. 0 means the connection bound.
	MaxIdleConnsPerHost int
	// IdleTimeout closes a connection idle this long. 0 means
	// DefaultIdleTimeout. A server's Keep-Alive: timeout shortens it.
	IdleTimeout time.Duration
	// DisableKeepAlives sends Connection: close and uses each connection once.
	DisableKeepAlives bool
	// MaxPipelineDepth is the number of requests that may be outstanding on
	// one connection; 0 or 1 turns pipelining off.
	MaxPipelineDepth int
	// PeekSkipIdle: a retryable request (idempotent, or with
	// Idempotency-Key, and a body that can be replayed) takes an idle
	// connection used within this long without the FIN peek: a close
	// racing it is recovered by one retry. 0 means DefaultPeekSkipIdle;
	// negative always peeks. Requests that cannot be retried always peek.
	PeekSkipIdle time.Duration
	// ExpectContinueTimeout: how long a request with Expect: 100-continue
	// waits for 100 before it sends its body. 0 means the default (1 s).
	ExpectContinueTimeout time.Duration
	// ResponseHeaderTimeout, if positive, bounds the wait for a response
	// head after the request is written: it times out no sooner, and no
	// later than a sixteenth of it (at most 250 ms) after (conn.armHead).
	ResponseHeaderTimeout time.Duration
	// Proxy returns the proxy for a request, nil for none, like
	// net/http's. Only http:// proxies for http:// targets are supported
	// (absolute-form, RFC 9112 §3.2.2).
	Proxy func(*http.Request) (*url.URL, error)
	// DialContext dials TCP; nil means a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSClientConfig is used for https over the dialled connection.
	TLSClientConfig *tls.Config
	// Limits bounds response heads and trailers; nil means h1.DefaultLimits.
	Limits *h1.Limits

	once     sync.Once
	maxConns atomic.Int64 // 0: unbounded
	mu       sync.Mutex
	pools    map[hostKey]*hostPool // guarded by mu
	lastPool atomic.Pointer[hostPool]
	routes   atomic.Pointer[routeCache]
	stats    counters
	dialer   net.Dialer
}

func (t *Transport) init() {
	t.once.Do(func() {
		n := t.MaxConnsPerHost
		switch {
		case n == 0:
			n = DefaultMaxConnsPerHost
		case n < 0:
			n = 0
		}
		t.maxConns.Store(int64(n))
		t.pools = make(map[hostKey]*hostPool)
	})
}

// SetMaxConnsPerHost changes the per-host bound at run time (a proxy sets
// 2N for N client connections). n <= 0 removes the bound. Raising it serves
// waiting requests at once; lowering it closes nothing, connections above
// the bound end as they come back.
func (t *Transport) SetMaxConnsPerHost(n int) {
	t.init()
	if n < 0 {
		n = 0
	}
	t.maxConns.Store(int64(n))
	t.mu.Lock()
	pools := make([]*hostPool, 0, len(t.pools))
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.mu.Lock()
		p.grantSlotsLocked()
		p.mu.Unlock()
	}
}

// MaxConns returns the per-host bound in force (0: none).
func (t *Transport) MaxConns() int { t.init(); return int(t.maxConns.Load()) }

// CloseIdleConnections closes every idle pooled connection.
func (t *Transport) CloseIdleConnections() {
	t.init()
	t.mu.Lock()
	pools := make([]*hostPool, 0, len(t.pools))
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.closeIdle()
	}
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (t *Transport) peekSkipIdle() time.Duration {
	if t.PeekSkipIdle == 0 {
		return DefaultPeekSkipIdle
	}
	return t.PeekSkipIdle
}

func (t *Transport) pipelineDepth() int {
	if t.MaxPipelineDepth > 1 && !t.DisableKeepAlives {
		return t.MaxPipelineDepth
	}
	return 1
}

// hostKey names a pool: scheme, host:port, and the proxy in between.
type hostKey struct {
	scheme, addr, proxy string
}

// route is how one request reaches its origin.
type route struct {
	key       hostKey
	dialAddr  string // proxy or origin host:port
	absolute  bool   // request-target in absolute-form (to an http proxy)
	proxyAuth string // Proxy-Authorization value, "" for none
	tlsName   string // ServerName for https, "" for http
}

var (
	errNoURL       = errors.New("client: request has no URL")
	errNoHost      = errors.New("client: request URL has no host")
	errProxyScheme = errors.New("client: only http proxies for http targets are supported")
)

// routeCache holds the routes of the last few origins (without a Proxy
// function): a proxy sends every request to one upstream or a few, and
// the route of a URL's scheme and host is found again by comparing two
// strings, not by splitting and joining host and port. Immutable once
// stored; a new origin stores a copy with one more entry, up to its size.
type routeCache struct {
	n       int
	entries [4]struct {
		scheme, host string
		r            route
	}
}

func (t *Transport) cachedRoute(req *http.Request) (route, error) {
	if t.Proxy != nil || req.URL == nil {
		return t.route(req)
	}
	u := req.URL
	rc := t.routes.Load()
	if rc != nil {
		for i := range rc.entries[:rc.n] {
			if e := &rc.entries[i]; e.host == u.Host && e.scheme == u.Scheme {
				return e.r, nil
			}
		}
	}
	r, err := t.route(req)
	if err != nil || rc != nil && rc.n == len(rc.entries) {
		return r, err
	}
	nc := &routeCache{}
	if rc != nil {
		*nc = *rc
	}
	e := &nc.entries[nc.n]
	e.scheme, e.host, e.r = u.Scheme, u.Host, r
	nc.n++
	t.routes.CompareAndSwap(rc, nc)
	return r, nil
}

func (t *Transport) route(req *http.Request) (route, error) {
	u := req.URL
	var r route
	scheme := strings.ToLower(u.Scheme)
	port := "80"
	switch scheme {
	case "http":
	case "https":
		port = "443"
	default:
		return r, fmt.Errorf("client: unsupported protocol scheme %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return r, errNoHost
	}
	addr := u.Host // already host:port: no allocation
	if u.Port() == "" {
		addr = net.JoinHostPort(host, port)
	}
	r.key = hostKey{scheme: scheme, addr: addr}
	r.dialAddr = addr
	if scheme == "https" {
		r.tlsName = host
	}
	if t.Proxy != nil {
		pu, err := t.Proxy(req)
		if err != nil {
			return r, err
		}
		if pu != nil {
			if scheme != "http" || (pu.Scheme != "http" && pu.Scheme != "") {
				return r, errProxyScheme
			}
			pport := pu.Port()
			if pport == "" {
				pport = "80"
			}
			r.dialAddr = net.JoinHostPort(pu.Hostname(), pport)
			r.key.proxy = r.dialAddr
			r.absolute = true
			if pu.User != nil {
				pw, _ := pu.User.Password()
				r.proxyAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(pu.User.Username()+":"+pw))
				r.key.proxy += "|" + r.proxyAuth
			}
		}
	}
	return r, nil
}

// RoundTrip sends one request and returns its response, whose body streams
// from the connection. It retries once, on a fresh connection, when
// shouldRetry says so.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTrip(req, nil, nil)
}

// RoundTripHeader is RoundTrip with the response's end-to-end fields
// added to h, which becomes the response's Header: a caller that would
// copy them into a map of its own anyway (a proxy, into its response to
// its client) spares a map and the copy. The hop-by-hop fields (RFC 9110
// §7.6.1: Connection, the fields it names, Keep-Alive, Proxy-Connection,
// TE, Transfer-Encoding, Upgrade) are left out: such a caller removes
// them anyway. A name h already holds gets the new values appended. h is
// not touched when an error is returned. The value slices put into h may
// be shared with other responses' from the same connection (a response
// whose values are all its connection's last ones costs no allocation):
// replace an entry rather than change its slice in place.
func (t *Transport) RoundTripHeader(req *http.Request, h http.Header) (*http.Response, error) {
	return t.roundTrip(req, h, nil)
}

// Field is a request field written after req.Header's (RoundTripRelay).
type Field struct{ Name, Value string }

// RoundTripRelay is RoundTripHeader with extra fields written after
// req.Header's, as if they were in it: a proxy adds its own (Via,
// X-Forwarded-*) without writing them into the client's header map, which
// the transport would then walk again. Names the transport writes itself
// (Host, Content-Length, Transfer-Encoding, Connection, Keep-Alive,
// Proxy-Connection, Trailer) are skipped, as in req.Header. extra must
// not change until the response head is returned.
func (t *Transport) RoundTripRelay(req *http.Request, extra []Field, h http.Header) (*http.Response, error) {
	return t.roundTrip(req, h, extra)
}

func (t *Transport) roundTrip(req *http.Request, into http.Header, extra []Field) (*http.Response, error) {
	t.init()
	if req.URL == nil {
		closeBody(req)
		return nil, errNoURL
	}
	rt, err := t.cachedRoute(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	retried := false
	for {
		resp, a, err := t.try(ctx, req, &rt, retried, into, extra)
		if err == nil {
			return resp, nil
		}
		a.retried = retried
		a.ctxDone = ctx.Err() != nil
		a.headTimeout = errors.Is(err, ErrResponseHeaderTimeout)
		ok, _ := shouldRetry(a)
		if !ok {
			if !a.bodyTouched {
				closeBody(req)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		t.stats.retries.Add(1)
		if a.bodyTouched && a.hasBody {
			b, gerr := req.GetBody()
			if gerr != nil {
				return nil, gerr
			}
			r2 := *req
			r2.Body = b
			req = &r2
		}
		retried = true
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody
}

// dial opens a connection for p: TCP, then TLS for https.
func (t *Transport) dial(ctx context.Context, p *hostPool, rt *route) (*conn, error) {
	var nc net.Conn
	var err error
	if t.DialContext != nil {
		nc, err = t.DialContext(ctx, "tcp", rt.dialAddr)
	} else {
		nc, err = t.dialer.DialContext(ctx, "tcp", rt.dialAddr)
	}
	if err != nil {
		t.stats.dialErrors.Add(1)
		return nil, err
	}
	c := &conn{t: t, p: p, nc: nc, left: -1, hint: -1}
	c.cancelFn = c.onCancel
	if rt.tlsName != "" {
		cfg := t.TLSClientConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = rt.tlsName
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			t.stats.dialErrors.Add(1)
			return nil, err
		}
		c.nc = tc
		// No peek under TLS: a session ticket or alert makes an idle
		// socket readable without ending it; the retry rule covers it.
	} else if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			c.peekFn = c.peek
			c.waitFn = c.waitCB
		}
	}
	t.stats.opened.Add(1)
	return c, nil
}

var _ http.RoundTripper = (*Transport)(nil)

// errServerClosedIdle: the server closed (or reset) the connection before
// any byte of the response: the idle-close race of RFC 9112 §9.3.1.
var errServerClosedIdle = errors.New("client: server closed the connection before responding")

// errNotAnswered: an earlier response on the connection ended it (or it
// broke) before this request's turn: the request was not answered.
var errNotAnswered = errors.New("client: connection ended before this request was answered")
