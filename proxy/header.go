package proxy

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/dallyhttp/dally/client"
	"github.com/dallyhttp/dally/h1"
)

// removeHopByHop deletes the fields that belong to one link (RFC 9110
// §7.6.1): every field Connection names, then the fixed set h1.IsHopByHop
// knows (Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding,
// Upgrade). It reports whether TE offered "trailers" (RFC 9110 §10.1.4).
func removeHopByHop(h http.Header) (teTrailers bool) {
	for _, v := range h["Connection"] {
		forEachToken(v, func(name string) {
			// The fixed set goes below (without canonicalising the name:
			// "keep-alive" is the common option and would cost a string).
			if !isEndToEndFraming(name) && !h1.IsHopByHop([]byte(name)) {
				delete(h, http.CanonicalHeaderKey(name))
			}
		})
	}
	for _, v := range h["Te"] {
		forEachToken(v, func(t string) {
			if i := strings.IndexByte(t, ';'); i >= 0 {
				t = strings.TrimSpace(t[:i])
			}
			teTrailers = teTrailers || strings.EqualFold(t, "trailers")
		})
	}
	for k := range h {
		if h1.IsHopByHop([]byte(k)) {
			delete(h, k)
		}
	}
	return teTrailers
}

// isEndToEndFraming: a Connection option naming Content-Length or Host must
// not make the proxy drop them (that would change the message's framing or
// target; RFC 9110 §7.6.1 forbids listing them). The proxy computes
// framing itself anyway.
func isEndToEndFraming(name string) bool {
	return strings.EqualFold(name, "content-length") || strings.EqualFold(name, "host")
}

// forEachToken calls f with each non-empty element of a comma-separated list.
func forEachToken(v string, f func(string)) {
	for v != "" {
		var e string
		e, v, _ = strings.Cut(v, ",")
		if e = strings.TrimSpace(e); e != "" {
			f(e)
		}
	}
}

// hasToken reports whether the list v contains tok (case-insensitive).
func hasToken(vs []string, tok string) bool {
	found := false
	for _, v := range vs {
		forEachToken(v, func(e string) { found = found || strings.EqualFold(e, tok) })
	}
	return found
}

// isUpgrade: the client asks to switch protocols (RFC 9110 §7.8), which the
// proxy tunnels rather than strips.
func isUpgrade(h http.Header) bool {
	return len(h["Upgrade"]) > 0 && hasToken(h["Connection"], "upgrade")
}

// addVia appends this hop to Via (RFC 9110 §7.6.3): the protocol version
// of the message as received (the "HTTP/" prefix omitted) and a pseudonym.
// The common values are built once (viaFields), so a message without a Via
// costs no allocation for it.
func (p *Proxy) addVia(h http.Header, major, minor int) {
	hop := p.viaHop(major, minor)
	if old := h["Via"]; len(old) > 0 {
		h["Via"] = []string{strings.Join(old, ", ") + ", " + hop[0]}
		return
	}
	h["Via"] = hop
}

// viaHop is this hop's Via entry, shared for 1.1 and 1.0.
func (p *Proxy) viaHop(major, minor int) []string {
	switch {
	case major == 1 && minor == 1:
		return p.via11
	case major == 1 && minor == 0:
		return p.via10
	}
	return []string{strconv.Itoa(major) + "." + strconv.Itoa(minor) + " " + p.Via}
}

// viaValue is the Via value to send on, h's own ones (taken out of h)
// followed by this hop, for a field written outside the map.
func (p *Proxy) viaValue(h http.Header, major, minor int) string {
	hop := p.viaHop(major, minor)[0]
	if old := h["Via"]; len(old) > 0 {
		delete(h, "Via")
		return strings.Join(old, ", ") + ", " + hop
	}
	return hop
}

// appendForwarded is addForwarded for fields written outside the map
// (client.Transport.RoundTripRelay): the client's own X-Forwarded-* are
// taken out of h, the values the upstream gets appended to x.
func appendForwarded(x []client.Field, h http.Header, r *http.Request) []client.Field {
	ip := remoteIP(r.RemoteAddr)
	if len(h) > 0 { // else nothing to take out (the common case: no field besides Host)
		if old := h["X-Forwarded-For"]; len(old) > 0 {
			ip = strings.Join(old, ", ") + ", " + ip
		}
		delete(h, "X-Forwarded-For")
		delete(h, "X-Forwarded-Proto")
		delete(h, "X-Forwarded-Host")
	}
	x = append(x, client.Field{Name: "X-Forwarded-For", Value: ip})
	if r.TLS != nil {
		x = append(x, client.Field{Name: "X-Forwarded-Proto", Value: "https"})
	} else {
		x = append(x, client.Field{Name: "X-Forwarded-Proto", Value: "http"})
	}
	if r.Host != "" {
		x = append(x, client.Field{Name: "X-Forwarded-Host", Value: r.Host})
	}
	return x
}

// Shared, never written into (a header map's append copies them).
var xfProtoHTTP, xfProtoHTTPS = []string{"http"}, []string{"https"}

// addForwarded sets the de-facto X-Forwarded-* fields of a reverse proxy:
// the client's address appended to X-Forwarded-For, the scheme and Host the
// client used in X-Forwarded-Proto and X-Forwarded-Host (this hop's view
// replaces any the client sent: they are the ones the upstream can trust).
// The values live in vals (the request's outbound), not in slices of their
// own.
func addForwarded(h http.Header, r *http.Request, vals *[2]string) {
	ip := remoteIP(r.RemoteAddr)
	if old := h["X-Forwarded-For"]; len(old) > 0 {
		vals[0] = strings.Join(old, ", ") + ", " + ip
	} else {
		vals[0] = ip
	}
	h["X-Forwarded-For"] = vals[0:1:1]
	if r.TLS != nil {
		h["X-Forwarded-Proto"] = xfProtoHTTPS
	} else {
		h["X-Forwarded-Proto"] = xfProtoHTTP
	}
	if r.Host != "" {
		vals[1] = r.Host
		h["X-Forwarded-Host"] = vals[1:2:2]
	} else {
		delete(h, "X-Forwarded-Host")
	}
}

// remoteIP is the address part of a RemoteAddr: the host net.SplitHostPort
// returns, or the whole string when it fails (not host:port). An IPv4 or
// name host is cut at the last colon without it.
func remoteIP(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr
	}
	host := addr[:i]
	if hasAddrPunct(host) || hasAddrPunct(addr[i:]) {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			return h // IPv6, bracketed
		}
		return addr
	}
	return host
}

// hasAddrPunct: s holds ':', '[' or ']' (a loop: strings.ContainsAny builds
// a set first, dearer than these few bytes).
func hasAddrPunct(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ':' || c == '[' || c == ']' {
			return true
		}
	}
	return false
}
