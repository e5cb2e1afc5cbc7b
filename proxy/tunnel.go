package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/h1"
)

// upgrade forwards a request that asks to switch protocols (RFC 9110
// §7.8, WebSocket's RFC 6455 §4): on its own upstream connection, outside
// the pool, since the connection will not come back. A 101 answer is
// relayed and the two connections are joined byte for byte; any other
// answer is relayed as a response. It returns true when the upstream
// refused the connection (nothing sent) and another may be tried.
func (p *Proxy) upgrade(w http.ResponseWriter, r *http.Request, u *upstream, o *outbound, host string, proto []string) (retry bool) {
	target := &o.target
	out, _ := p.outRequest(r, o, host)
	// Connection and Upgrade are this link's options: said again here.
	out.Header["Connection"] = []string{"Upgrade"}
	out.Header["Upgrade"] = proto
	delete(out.Header, "Te")

	d := net.Dialer{Timeout: p.DialTimeout}
	uc, err := d.DialContext(r.Context(), "tcp", target.Host)
	if err != nil {
		if u != nil {
			u.markDown(p.FailTimeout)
			if len(p.ups) > 1 {
				return true
			}
		}
		fail(w, r, http.StatusBadGateway, "upstream refused the connection")
		return false
	}
	if u != nil {
		u.markUp()
	}
	defer func() {
		if uc != nil {
			uc.Close()
		}
	}()
	head := h1.AppendRequestLine(nil, out.Method, target.RequestURI(), 1, 1)
	head = h1.AppendField(head, "Host", out.Host)
	head = appendFields(head, out.Header)
	head = append(head, "\r\n"...)
	uc.SetDeadline(time.Now().Add(p.UpstreamTimeout))
	if _, err := uc.Write(head); err != nil {
		fail(w, r, http.StatusBadGateway, "upstream connection broke")
		return false
	}
	ubr := bufio.NewReader(uc)
	resp, err := http.ReadResponse(ubr, out)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			fail(w, r, http.StatusGatewayTimeout, "upstream timed out")
		} else {
			fail(w, r, http.StatusBadGateway, "upstream sent no valid response")
		}
		return false
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		uc.SetDeadline(time.Time{})
		p.relay(w, r, resp, false)
		return false
	}
	uc.SetDeadline(time.Time{})
	upProto := resp.Header["Upgrade"]
	removeHopByHop(resp.Header)
	p.addVia(resp.Header, resp.ProtoMajor, resp.ProtoMinor)
	hj, ok := w.(http.Hijacker)
	if !ok {
		fail(w, r, http.StatusBadGateway, "cannot tunnel on this connection")
		return false
	}
	cc, cbuf, err := hj.Hijack()
	if err != nil {
		return false
	}
	b := h1.AppendStatusLine(nil, 1, 1, 101, "")
	b = appendFields(b, resp.Header)
	b = h1.AppendField(b, "Connection", "Upgrade")
	for _, v := range upProto {
		b = h1.AppendField(b, "Upgrade", v)
	}
	b = append(b, "\r\n"...)
	if _, err := cc.Write(b); err != nil {
		cc.Close()
		return false
	}
	// Bytes the upstream sent after its 101 are the new protocol's.
	p.splice(cc, cbuf.Reader, uc, ubr)
	uc = nil // splice closed it
	return false
}

// appendFields writes h's fields; values with CR, LF or NUL are dropped
// (they would split the message), as are invalid names.
func appendFields(b []byte, h http.Header) []byte {
	for k, vs := range h {
		if !h1.ValidFieldName(k) {
			continue
		}
		for _, v := range vs {
			if v == "" && k == "User-Agent" {
				continue
			}
			if !h1.ValidFieldValue(v) {
				continue
			}
			b = h1.AppendField(b, k, v)
		}
	}
	return b
}

// connect answers CONNECT (RFC 9110 §9.3.6): dial the target, answer 200,
// and join the connections.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	authority := r.URL.Host
	if authority == "" {
		authority = r.Host
	}
	_, port, err := net.SplitHostPort(authority)
	if err != nil {
		fail(w, r, http.StatusBadRequest, "CONNECT needs host:port")
		return
	}
	if !p.ports[atoiPort(port)] {
		fail(w, r, http.StatusForbidden, "CONNECT to this port is not allowed")
		return
	}
	d := net.Dialer{Timeout: p.DialTimeout}
	uc, err := d.DialContext(r.Context(), "tcp", authority)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			fail(w, r, http.StatusGatewayTimeout, "upstream timed out")
		} else {
			fail(w, r, http.StatusBadGateway, "upstream refused the connection")
		}
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		uc.Close()
		fail(w, r, http.StatusBadGateway, "cannot tunnel on this connection")
		return
	}
	cc, cbuf, err := hj.Hijack()
	if err != nil {
		uc.Close()
		return
	}
	if _, err := io.WriteString(cc, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		cc.Close()
		uc.Close()
		return
	}
	p.splice(cc, cbuf.Reader, uc, uc)
}

func atoiPort(s string) int {
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' || n > 65535 {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// splice copies both ways until both directions end, then closes both
// connections. A direction that ends (EOF) half-closes its destination, so
// protocols that finish one way first (a request sent, then the answer)
// still complete. Each direction uses one pooled buffer; a destination
// that does not read blocks its copy, so the source is no longer read and
// its TCP window closes (backpressure). No byte moving either way for
// TunnelIdleTimeout ends the tunnel.
func (p *Proxy) splice(cc net.Conn, cr io.Reader, uc net.Conn, ur io.Reader) {
	t := &tunnel{a: cc, b: uc}
	p.tunnels.add(t)
	defer p.tunnels.remove(t)
	t.touch()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.pipe(uc, cc, cr, p.TunnelIdleTimeout)
	}()
	t.pipe(cc, uc, ur, p.TunnelIdleTimeout)
	wg.Wait()
	cc.Close()
	uc.Close()
}

type tunnel struct {
	a, b net.Conn     // Immutable.
	last atomic.Int64 // Unix nanoseconds of the last byte moved
}

func (t *tunnel) touch() { t.last.Store(time.Now().UnixNano()) }

func (t *tunnel) close() {
	t.a.Close()
	t.b.Close()
}

// pipe copies src (read through r) to dst.
func (t *tunnel) pipe(dst, src net.Conn, r io.Reader, idle time.Duration) {
	bp := getBuf()
	defer putBuf(bp)
	buf := bp[:]
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		n, err := r.Read(buf)
		if n > 0 {
			t.touch()
			dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				t.close()
				return
			}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) &&
			time.Since(time.Unix(0, t.last.Load())) < idle {
			continue // the other direction is busy: the tunnel is alive
		}
		if err == io.EOF {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
				return
			}
		}
		t.close()
		return
	}
}

// tunnelSet tracks open tunnels so that Close can end them.
type tunnelSet struct {
	mu sync.Mutex
	m  map[*tunnel]struct{} // guarded by mu
}

func (s *tunnelSet) add(t *tunnel) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[*tunnel]struct{}{}
	}
	s.m[t] = struct{}{}
	s.mu.Unlock()
}

func (s *tunnelSet) remove(t *tunnel) {
	s.mu.Lock()
	delete(s.m, t)
	s.mu.Unlock()
}

func (s *tunnelSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *tunnelSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.m {
		t.close()
	}
}
