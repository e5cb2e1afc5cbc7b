// Package proxy is dally's HTTP/1.1 proxy, reverse and forward, served as an
// http.Handler by dally's server.
//
// Its rules are the connection-management rules for intermediaries (RFC
// 9112 §9.3, RFC 2068 §8.1.3, RFC 2616 §8.1.4, the IETF draft "HTTP
// Connection Management"):
//
//   - every connection option is removed before forwarding (hop-by-hop
//     fields, RFC 9110 §7.6.1) and persistence is signalled on each link
//     separately; an HTTP/1.0 client never gets a persistent connection;
//   - a request in flight owns its upstream connection: no upstream
//     connection ever carries two clients' requests at once (head-of-line
//     blocking would couple their fates); serial reuse afterwards is fine;
//   - at most 2N upstream connections for N client connections;
//   - bodies stream both ways with backpressure and bounded memory, and are
//     re-framed by the proxy (it forwards only the framing it computes);
//   - upstream failures are 502, an upstream that does not answer in time
//     504, each with a short plain-text reason.
//
// One Proxy is one route: its Upstreams (reverse), or the request's own
// target (Forward), or both (origin-form requests go to Upstreams,
// absolute-form and CONNECT requests are forwarded).
package proxy

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/client"
	"github.com/dallyhttp/dally/server"
)

// Defaults for the zero values of Proxy's fields.
const (
	DefaultUpstreamTimeout   = 60 * time.Second // as nginx's proxy_read_timeout
	DefaultDialTimeout       = 10 * time.Second
	DefaultFailTimeout       = 10 * time.Second // as nginx's fail_timeout
	DefaultTunnelIdleTimeout = 5 * time.Minute
	DefaultIdleConnTimeout   = 30 * time.Second // below nginx's (75 s) and dally's (60 s) keep-alive timeouts
	DefaultVia               = "dally"
)

// Balance chooses among a route's upstreams.
type Balance uint8

const (
	RoundRobin Balance = iota // each healthy upstream in turn
	LeastConn                 // the healthy upstream with the fewest requests in flight
)

// ParseBalance reads "rr" / "roundrobin" or "leastconn".
func ParseBalance(s string) (Balance, error) {
	switch strings.ToLower(s) {
	case "", "rr", "roundrobin", "round-robin":
		return RoundRobin, nil
	case "leastconn", "least-conn", "lc":
		return LeastConn, nil
	}
	return 0, errors.New("proxy: unknown balance " + strconv.Quote(s) + " (want rr or leastconn)")
}

// Proxy is an http.Handler that forwards requests. Set the fields before
// the first request; they must not change afterwards. Install ConnState as
// (or call it from) the server's ConnState hook so that the 2N bound knows
// N, the number of open client connections.
type Proxy struct {
	// Upstreams are the origins of a reverse proxy. A request's path is
	// appended to an upstream's path; its query is kept.
	Upstreams []*url.URL
	// Balance chooses among Upstreams. Default RoundRobin.
	Balance Balance
	// RewriteHost sends the upstream's host in Host instead of the
	// client's (which X-Forwarded-Host carries either way).
	RewriteHost bool

	// Forward makes this a forward proxy: absolute-form requests go to
	// their own target, CONNECT opens a tunnel to an allowed port.
	Forward bool
	// ConnectPorts are the ports CONNECT may reach. Default: 443 only.
	ConnectPorts []int
	// ForwardAuth, when set, checks Proxy-Authorization (Basic) on
	// forwarded and CONNECT requests; a missing or refused credential is
	// answered 407. The credential is consumed: it is not forwarded.
	ForwardAuth func(user, password string) bool

	// Transport carries requests upstream. nil: dally's client.Transport,
	// whose dials the proxy gates to 2N open connections and whose
	// per-host bound it keeps at 2N. A Transport set here must not
	// pipeline; the 2N bound then relies on it (see MaxConnsSetter).
	Transport http.RoundTripper
	// UpstreamTimeout bounds the wait for an upstream's response head
	// (504 past it): with the default transport, from the request's
	// write (its ResponseHeaderTimeout; dials have DialTimeout); with
	// another Transport, from the start of the round trip. Default
	// DefaultUpstreamTimeout.
	UpstreamTimeout time.Duration
	// DialTimeout bounds a dial upstream. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// FailTimeout is how long an upstream that refused a connection is
	// skipped (passive health). Default DefaultFailTimeout.
	FailTimeout time.Duration
	// IdleConnTimeout closes an idle upstream connection of the default
	// transport (sooner when the upstream's Keep-Alive: timeout says so).
	// Default DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration
	// TunnelIdleTimeout closes a CONNECT or upgrade tunnel in which no byte
	// moved either way for this long. Default DefaultTunnelIdleTimeout.
	TunnelIdleTimeout time.Duration
	// Via is the pseudonym in the Via fields the proxy adds (RFC 9110
	// §7.6.3). Default "dally".
	Via string
	// ErrorLog receives upstream errors; nil: the log package's logger.
	ErrorLog *log.Logger

	once      sync.Once
	ups       []*upstream // Immutable after init.
	rr        atomic.Uint64
	transport http.RoundTripper // Immutable after init.
	own       *client.Transport // the default transport; nil when Transport was set
	gate      gate
	ports     map[int]bool // Immutable after init.
	// Immutable after init: the Via values for 1.1 and 1.0, shared by every
	// message (header maps hold them; nothing writes into them).
	via11, via10 []string
	tunnels      tunnelSet
}

// MaxConnsSetter is implemented by a Transport whose limit on connections
// per host can change at run time; the proxy sets it to 2N as N changes.
type MaxConnsSetter interface {
	SetMaxConnsPerHost(n int)
}

// NewReverse is a reverse proxy to the upstream URLs ("http://host:port"
// with an optional base path).
func NewReverse(upstreams ...string) (*Proxy, error) {
	if len(upstreams) == 0 {
		return nil, errors.New("proxy: no upstream")
	}
	p := &Proxy{}
	for _, s := range upstreams {
		u, err := ParseUpstream(s)
		if err != nil {
			return nil, err
		}
		p.Upstreams = append(p.Upstreams, u)
	}
	return p, nil
}

// NewForward is a forward proxy: absolute-form requests and CONNECT to the
// given ports (none: 443).
func NewForward(connectPorts ...int) *Proxy {
	return &Proxy{Forward: true, ConnectPorts: connectPorts}
}

// ParseUpstream checks an upstream URL: http, a host, no query.
func ParseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, errors.New("proxy: upstream " + strconv.Quote(s) + " must be http://host[:port][/path]")
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "80")
	}
	return u, nil
}

func (p *Proxy) init() {
	p.once.Do(func() {
		if p.UpstreamTimeout <= 0 {
			p.UpstreamTimeout = DefaultUpstreamTimeout
		}
		if p.DialTimeout <= 0 {
			p.DialTimeout = DefaultDialTimeout
		}
		if p.FailTimeout <= 0 {
			p.FailTimeout = DefaultFailTimeout
		}
		if p.IdleConnTimeout <= 0 {
			p.IdleConnTimeout = DefaultIdleConnTimeout
		}
		if p.TunnelIdleTimeout <= 0 {
			p.TunnelIdleTimeout = DefaultTunnelIdleTimeout
		}
		if p.Via == "" {
			p.Via = DefaultVia
		}
		p.via11, p.via10 = []string{"1.1 " + p.Via}, []string{"1.0 " + p.Via}
		for _, u := range p.Upstreams {
			p.ups = append(p.ups, &upstream{url: u})
		}
		p.ports = map[int]bool{}
		for _, n := range p.ConnectPorts {
			p.ports[n] = true
		}
		if len(p.ports) == 0 {
			p.ports[443] = true
		}
		p.gate.init()
		p.transport = p.Transport
		if p.transport == nil {
			p.own = p.defaultTransport()
			p.transport = p.own
			p.gate.closeIdle = p.own.CloseIdleConnections
		} else if ci, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
			p.gate.closeIdle = ci.CloseIdleConnections
		}
		if ms, ok := p.transport.(MaxConnsSetter); ok {
			p.gate.setMax = ms.SetMaxConnsPerHost
			ms.SetMaxConnsPerHost(p.gate.limit())
		}
	})
}

// defaultTransport is dally's client: HTTP/1.1 without pipelining (a
// request in flight owns its connection), idle connections closed before
// the upstream's advertised Keep-Alive timeout, one retry of idempotent
// requests after an asynchronous close; its per-host bound follows 2N
// through the gate, and its dials go through the gate.
func (p *Proxy) defaultTransport() *client.Transport {
	d := &net.Dialer{Timeout: p.DialTimeout, KeepAlive: 30 * time.Second}
	return &client.Transport{
		MaxConnsPerHost:  2, // raised to 2N as client connections arrive
		MaxPipelineDepth: 1,
		IdleTimeout:      p.IdleConnTimeout,
		// 504 past it: forward tells ErrResponseHeaderTimeout apart.
		ResponseHeaderTimeout: p.UpstreamTimeout,
		// Under load one P runs every handler in turn, so the most
		// recently used connection is often a few ms old: a GET on it
		// skips the FIN peek (a racing close is retried); a POST peeks.
		PeekSkipIdle: peekSkipIdle,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return p.gate.dial(ctx, d, network, addr)
		},
	}
}

// ConnState counts open client connections for the 2N bound. Install it as
// server.Server.ConnState (or call it from yours).
func (p *Proxy) ConnState(_ server.ConnInfo, st server.State) {
	p.init()
	switch st {
	case server.StateNew:
		p.gate.clients(+1)
	case server.StateClosed, server.StateHijacked:
		// A hijacked connection is a tunnel's now: it holds exactly one
		// upstream connection of its own, outside the pool.
		p.gate.clients(-1)
	}
}

// Close closes idle upstream connections and open tunnels. Requests in
// flight finish on their own.
func (p *Proxy) Close() error {
	p.init()
	if p.gate.closeIdle != nil {
		p.gate.closeIdle()
	}
	p.tunnels.closeAll()
	return nil
}

// Stats is a snapshot of the proxy's connection counts.
type Stats struct {
	ClientConns   int // open client connections, from ConnState
	UpstreamConns int // open pooled upstream connections (default transport)
	InFlight      int // requests waiting for or streaming a response
	Tunnels       int // open CONNECT and upgrade tunnels
}

// Stats reports the connection counts.
func (p *Proxy) Stats() Stats {
	p.init()
	p.gate.mu.Lock()
	s := Stats{ClientConns: p.gate.nclients, UpstreamConns: p.gate.open, InFlight: p.gate.inflight}
	p.gate.mu.Unlock()
	s.Tunnels = p.tunnels.count()
	return s
}

func (p *Proxy) logf(format string, args ...any) {
	if p.ErrorLog != nil {
		p.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// ServeHTTP forwards r.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.init()
	forwardForm := r.Method == "CONNECT" || r.URL.IsAbs()
	switch {
	case forwardForm && p.Forward:
		p.serveForward(w, r)
	case r.Method == "CONNECT":
		fail(w, r, http.StatusMethodNotAllowed, "CONNECT is not allowed here")
	case len(p.ups) == 0 && p.Forward:
		// RFC 9112 §3.2.2: a request to a proxy carries the absolute form.
		fail(w, r, http.StatusBadRequest, "a forward proxy needs an absolute URI")
	case len(p.ups) == 0:
		fail(w, r, http.StatusBadGateway, "no upstream")
	default:
		p.serveReverse(w, r)
	}
}

// outbound is a client request's way upstream, in one allocation whatever
// the number of attempts: the request sent, its target, the X-Forwarded-*
// values its header map points into, and the upstreams tried.
type outbound struct {
	req    http.Request
	target url.URL
	fwd    [2]string // X-Forwarded-For, X-Forwarded-Host
	tried  [4]bool
	// extra: the fields the proxy adds (TE, Via, X-Forwarded-*) when dally's
	// client writes them (RoundTripRelay); they live in fields.
	extra  []client.Field
	fields [5]client.Field
	// reusable: no one can hold o past the handler (dally's client, no
	// body, no tunnel): it goes back to outboundPool.
	reusable bool
}

// outboundPool recycles the outbound of a request sent by dally's client
// without a body: once the response is relayed nothing refers to it (the
// client keeps no request past its response; a body would be read by the
// transport's own goroutine, which may outlive the handler).
var outboundPool = sync.Pool{New: func() any { return new(outbound) }}

func (p *Proxy) serveReverse(w http.ResponseWriter, r *http.Request) {
	o := outboundPool.Get().(*outbound)
	upgrade := p.prepare(r, true, o)
	o.reusable = p.own != nil && upgrade == nil && (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0)
	p.serveReverseWith(w, r, o, upgrade)
	if o.reusable {
		*o = outbound{} // holds nothing of this request while pooled
		outboundPool.Put(o)
	}
}

func (p *Proxy) serveReverseWith(w http.ResponseWriter, r *http.Request, o *outbound, upgrade []string) {
	tried := o.tried[:0]
	if len(p.ups) <= len(o.tried) {
		tried = o.tried[:len(p.ups)]
	} else {
		tried = make([]bool, len(p.ups))
	}
	for range p.ups {
		u := p.pick(tried)
		upstreamURL(&o.target, u.url, r.URL)
		host := r.Host
		if p.RewriteHost {
			host = u.url.Host
		}
		if upgrade != nil {
			if p.upgrade(w, r, u, o, host, upgrade) {
				continue
			}
			return
		}
		if p.forward(w, r, u, o, host) {
			continue // refused before anything was sent: the next upstream
		}
		return
	}
	fail(w, r, http.StatusBadGateway, "no upstream accepted the connection")
}

// upstreamURL sets dst to base with the request's path appended and its
// query.
func upstreamURL(dst, base, req *url.URL) {
	u := dst
	*u = *base
	path := req.EscapedPath()
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	bp := strings.TrimSuffix(base.EscapedPath(), "/")
	full := bp + path
	u.Path, u.RawPath = "", ""
	if p, err := url.PathUnescape(full); err == nil {
		// RawPath keeps the client's spelling: url.URL would otherwise
		// escape what RFC 3986 allows as is ("/!" would go as "/%21").
		u.Path, u.RawPath = p, full
	}
	u.RawQuery = req.RawQuery
	u.Fragment, u.RawFragment = "", ""
}

// errRefused marks a dial failure: nothing was sent, so another upstream
// may take the request whatever its method.
var errRefused = errors.New("proxy: upstream refused the connection")

// forward sends r to target and relays the answer. It returns true when the
// upstream refused the connection and nothing was sent or answered, so the
// caller may try another upstream.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, u *upstream, o *outbound, host string) (retry bool) {
	out, body := p.outRequest(r, o, host)
	p.gate.begin()
	defer p.gate.end()
	if u != nil {
		u.active.Add(1)
		defer u.active.Add(-1)
	}

	ctx := r.Context()
	var resp *http.Response
	var err error
	var timedOut bool
	if p.own != nil {
		// dally's client bounds the wait for the head itself
		// (ResponseHeaderTimeout, a read deadline) and watches the
		// client's context: no context or timer of the proxy's own. The
		// upstream's fields go straight into the client's response
		// (relay filters them there).
		// The wait for the upstream is not the processor's: the server's
		// run bound leaves this worker out of its count meanwhile.
		bw := server.Blocking(ctx)
		resp, err = p.own.RoundTripRelay(out, o.extra, w.Header())
		bw.End()
		timedOut = errors.Is(err, client.ErrResponseHeaderTimeout)
	} else {
		c, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		ctx = c
		timer := time.AfterFunc(p.UpstreamTimeout, func() { cancel(errUpstreamTimeout) })
		bw := server.Blocking(r.Context())
		resp, err = p.transport.RoundTrip(out.WithContext(ctx))
		bw.End()
		timedOut = !timer.Stop() || errors.Is(context.Cause(ctx), errUpstreamTimeout)
	}
	if body != nil {
		// The transport reads the request body on its own goroutine; the
		// client connection is not written until it has finished (dally's
		// server connection has one owner at a time).
		if !body.wait(ctx, p.UpstreamTimeout) && resp != nil {
			resp.Body.Close()
			body.wait(context.Background(), p.DialTimeout)
		}
	}
	if err != nil {
		switch {
		case timedOut:
			fail(w, r, http.StatusGatewayTimeout, "upstream timed out")
		case r.Context().Err() != nil:
			// The client left; nobody reads an answer.
		case isDialError(err) && (body == nil || body.n.Load() == 0):
			if u != nil {
				u.markDown(p.FailTimeout)
				if len(p.ups) > 1 {
					return true
				}
			}
			fail(w, r, http.StatusBadGateway, "upstream refused the connection")
		default:
			p.logf("dally proxy: %s %s: %v", r.Method, o.target.Host, err)
			fail(w, r, http.StatusBadGateway, "upstream connection broke")
		}
		return false
	}
	if u != nil {
		u.markUp()
	}
	p.relay(w, r, resp, p.own != nil)
	if p.own != nil {
		p.own.ReleaseResponse(resp) // relayed: nothing refers to it now
	}
	return false
}

var errUpstreamTimeout = errors.New("proxy: upstream timed out")

// peekSkipIdle is the default transport's PeekSkipIdle: well below any
// upstream's idle timeout (seconds), above a loaded proxy's reuse gaps.
const peekSkipIdle = 50 * time.Millisecond

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.Is(err, errRefused) || (errors.As(err, &oe) && oe.Op == "dial")
}

// prepare turns the client's fields into the upstream's, once per request
// whatever the number of attempts: the hop-by-hop fields go, Via and (for
// a reverse proxy) X-Forwarded-* are added. It returns the client's
// Upgrade values when the request asks to switch protocols (and has no
// body), which the tunnel says again on its own link.
func (p *Proxy) prepare(r *http.Request, reverse bool, o *outbound) (upgrade []string) {
	h := r.Header // the handler owns the request: edit in place
	if isUpgrade(h) && r.ContentLength == 0 {
		upgrade = h["Upgrade"]
	}
	te := removeHopByHop(h)
	if p.ForwardAuth != nil && !reverse {
		delete(h, "Proxy-Authorization")
	}
	if p.own != nil && upgrade == nil {
		// dally's client writes the proxy's fields after the map's
		// (RoundTripRelay): the map is not written into and walked again.
		x := o.fields[:0]
		if te {
			x = append(x, client.Field{Name: "Te", Value: "trailers"})
		}
		x = append(x, client.Field{Name: "Via", Value: p.viaValue(h, r.ProtoMajor, r.ProtoMinor)})
		if reverse {
			x = appendForwarded(x, h, r)
		}
		o.extra = x
		return nil
	}
	if te {
		// RFC 9110 §10.1.4: TE is hop-by-hop; the proxy can take trailers
		// (it relays them), so it says so on its own link.
		h["Te"] = []string{"trailers"}
	}
	if p.own == nil {
		if _, ok := h["User-Agent"]; !ok {
			h["User-Agent"] = nil // no transport's default User-Agent (dally's adds none)
		}
	}
	p.addVia(h, r.ProtoMajor, r.ProtoMinor)
	if reverse {
		addForwarded(h, r, &o.fwd)
	}
	return upgrade
}

// outRequest is the request sent upstream (o.req, to o.target), with the
// fields prepare made and the proxy's own framing (the transport writes
// Content-Length or chunked from ContentLength). It is a copy of r, so
// that it carries r's context without a WithContext copy; every exported
// field is then set.
func (p *Proxy) outRequest(r *http.Request, o *outbound, host string) (*http.Request, *reqBody) {
	out := &o.req
	*out = *r
	out.Method = r.Method
	out.URL = &o.target
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Header = r.Header
	out.Body, out.GetBody = nil, nil
	out.ContentLength = r.ContentLength
	out.TransferEncoding = nil
	out.Close = false
	out.Host = host
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	out.Trailer = nil
	out.RemoteAddr, out.RequestURI, out.Pattern = "", "", ""
	out.TLS = nil
	out.Cancel = nil
	out.Response = nil
	var body *reqBody
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body = &reqBody{r: r.Body, done: make(chan struct{})}
		out.Body = body
	} else {
		out.ContentLength = 0
	}
	return out, body
}

// reqBody is the client's body as the transport reads it. Close does not
// close the server's body (the server drains or closes the connection);
// it tells the handler the transport is done with it.
type reqBody struct {
	r    io.Reader
	n    atomic.Int64
	once sync.Once
	done chan struct{}
}

func (b *reqBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	if err != nil {
		b.finish()
	}
	return n, err
}

func (b *reqBody) Close() error { b.finish(); return nil }
func (b *reqBody) finish()      { b.once.Do(func() { close(b.done) }) }

// wait reports whether the transport finished with the body within d.
func (b *reqBody) wait(ctx context.Context, d time.Duration) bool {
	select {
	case <-b.done:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.done:
		return true
	case <-t.C:
	case <-ctx.Done():
		// Cancelled: the transport closes the body promptly.
		select {
		case <-b.done:
			return true
		case <-t.C:
		}
	}
	return false
}

// relay writes the upstream's response to the client: fields less the
// hop-by-hop ones, framing chosen by dally's server for the client's link
// (Content-Length when known; otherwise chunked to 1.1, close-delimited to
// 1.0), and the body streamed with a fixed, pooled buffer.
// inHeader says the transport wrote resp's fields into w.Header() itself
// (RoundTripHeader): nothing to copy.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, inHeader bool) {
	defer resp.Body.Close()
	hdr := w.Header()
	if !inHeader {
		removeHopByHop(resp.Header)
		for k, vs := range resp.Header {
			hdr[k] = vs
		}
	} // else dally's client left the hop-by-hop fields out
	cl := hdr["Content-Length"]
	switch {
	case resp.ContentLength >= 0 && bodyAllowed(r.Method, resp.StatusCode):
		if v := lengthField(cl, resp.ContentLength); len(cl) != 1 || &v[0] != &cl[0] {
			hdr["Content-Length"] = v
		}
	case !bodyAllowed(r.Method, resp.StatusCode) && len(cl) == 1:
		// HEAD and 304 keep the length the upstream announced.
	case cl != nil:
		delete(hdr, "Content-Length")
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		hdr["Trailer"] = []string{strings.Join(names, ", ")}
	}
	p.addVia(hdr, resp.ProtoMajor, resp.ProtoMinor)
	closeClient(hdr, r)
	w.WriteHeader(resp.StatusCode)
	if !bodyAllowed(r.Method, resp.StatusCode) {
		return
	}
	if len(resp.Trailer) > 0 {
		// Trailers need a chunked body: commit the head before the body
		// can end in the server's buffer and get a Content-Length.
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	if err := copyBody(w, resp.Body); err != nil {
		// The message cannot be completed: the client must see it cut
		// short (no last chunk, no clean close), never a whole-looking
		// partial body. dally's server closes at once on this panic.
		panic(http.ErrAbortHandler)
	}
	for k, vs := range resp.Trailer {
		hdr[k] = vs
	}
}

// lengthField is the Content-Length value for a body of n bytes: the
// upstream's own field when it says exactly that (no new strings), else a
// new one.
func lengthField(upstream []string, n int64) []string {
	var b [20]byte
	if len(upstream) == 1 && upstream[0] == string(strconv.AppendInt(b[:0], n, 10)) {
		return upstream
	}
	return []string{strconv.FormatInt(n, 10)}
}

// closeClient asks dally's server to close the client connection after the
// response when the client is HTTP/1.0: a proxy must not keep a persistent
// connection with an HTTP/1.0 client (RFC 2068 §8.1.3, RFC 9112 §9.3).
func closeClient(hdr http.Header, r *http.Request) {
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		hdr["Connection"] = []string{"close"}
	}
}

func bodyAllowed(method string, status int) bool {
	return method != "HEAD" && status != 204 && status != 304 && status >= 200
}

// copyBody streams src to w. A read that returns less than the buffer has
// emptied what the upstream had sent so far, so the bytes are flushed to
// the client at once (streamed and trickled responses arrive as they come);
// a full buffer leaves flushing to the server's output threshold. Writes
// block when the client does not read, so the proxy stops reading this
// upstream connection and its TCP window closes: backpressure that slows
// only this pair of connections.
func copyBody(w http.ResponseWriter, src io.Reader) error {
	fl, _ := w.(http.Flusher)
	if bw, ok := src.(bufferedWriter); ok {
		// dally's client: what it has buffered goes from its buffer; a
		// small response is all there, and no buffer is taken here.
		n, all, err := bw.WriteBuffered(w)
		if err != nil || all {
			return err
		}
		if n > 0 && fl != nil {
			fl.Flush() // as after a short read below
		}
	}
	bp := getBuf()
	defer putBuf(bp)
	buf := bp[:]
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if n < len(buf) && err == nil && fl != nil {
				fl.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// bufferedWriter is dally's client's response body: it writes the bytes
// it has already buffered straight to a writer, and says whether they
// were the whole body.
type bufferedWriter interface {
	WriteBuffered(w io.Writer) (n int, all bool, err error)
}

// fail answers with status and a short plain-text reason.
func fail(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(reason) + 1)}
	closeClient(h, r)
	w.WriteHeader(status)
	io.WriteString(w, reason+"\n")
}

const bufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

func getBuf() *[bufSize]byte  { return bufPool.Get().(*[bufSize]byte) }
func putBuf(b *[bufSize]byte) { bufPool.Put(b) }
