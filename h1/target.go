package h1

import (
	"bytes"
	"net/netip"
)

// parseTarget classifies and checks a request-target (RFC 9112 §3.2).
func parseTarget(method, t []byte) (TargetForm, error) {
	if len(t) == 0 {
		return 0, errTarget
	}
	connect := string(method) == "CONNECT"
	switch {
	case connect:
		// authority-form = uri-host ":" port, and only for CONNECT
		// (RFC 9112 §3.2.3); the port is required (RFC 9110 §9.3.6).
		if checkHostPort(t, true) != nil {
			return 0, errTarget
		}
		return FormAuthority, nil
	case t[0] == '/':
		if !targetChars(t) {
			return 0, errTarget
		}
		return FormOrigin, nil
	case len(t) == 1 && t[0] == '*':
		// asterisk-form: only for a server-wide OPTIONS (RFC 9112 §3.2.4).
		if string(method) != "OPTIONS" {
			return 0, errTarget
		}
		return FormAsterisk, nil
	}
	if checkAbsolute(t) != nil {
		return 0, errTarget
	}
	return FormAbsolute, nil
}

func targetChars(t []byte) bool {
	for _, c := range t {
		if !isTargetChar[c] {
			return false
		}
	}
	return true
}

// checkAbsolute checks absolute-URI = scheme ":" hier-part [ "?" query ]
// (RFC 3986 §4.3) with an authority, whose host is checked like Host; userinfo is refused (RFC 9110 §4.2.4: a recipient SHOULD treat it as
// an error, it serves only phishing).
func checkAbsolute(t []byte) error {
	i := 0
	for i < len(t) && isSchemeChar(t[i], i == 0) {
		i++
	}
	if i == 0 || i == len(t) || t[i] != ':' {
		return errTarget
	}
	rest := t[i+1:]
	if !targetChars(rest) {
		return errTarget
	}
	// Only URIs with an authority are served: absolute-form is for
	// proxies, whose schemes (http, https) always have one (RFC 9110 §4.2).
	if !bytes.HasPrefix(rest, []byte("//")) {
		return errTarget
	}
	auth := rest[2:]
	if j := bytes.IndexAny(auth, "/?"); j >= 0 {
		auth = auth[:j]
	}
	// An http(s) URI with an empty host is invalid (RFC 9110 §4.2.1).
	if len(auth) == 0 || checkHostPort(auth, false) != nil {
		return errTarget
	}
	return nil
}

func isSchemeChar(c byte, first bool) bool {
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
	switch {
	case 'a' <= lower(c) && lower(c) <= 'z':
		return true
	case first:
		return false
	case '0' <= c && c <= '9', c == '+', c == '-', c == '.':
		return true
	}
	return false
}

// checkHostPort checks uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986
// §3.2.2-3.2.3), as in Host and in authority-form.
func checkHostPort(b []byte, needPort bool) error {
	if len(b) == 0 {
		return errBadHost
	}
	var host, port []byte
	hasPort := false
	if b[0] == '[' {
		j := bytes.IndexByte(b, ']')
		if j < 0 {
			return errBadHost
		}
		host = b[:j+1]
		if rest := b[j+1:]; len(rest) > 0 {
			if rest[0] != ':' {
				return errBadHost
			}
			port, hasPort = rest[1:], true
		}
		if !ipLiteral(host[1 : len(host)-1]) {
			return errBadHost
		}
	} else {
		host = b
		if j := bytes.IndexByte(b, ':'); j >= 0 {
			host, port, hasPort = b[:j], b[j+1:], true
		}
		if !regNameOrIPv4(host) {
			return errBadHost
		}
	}
	if needPort && (!hasPort || len(port) == 0) {
		return errBadHost
	}
	// port = *DIGIT; dally also bounds it to a TCP port.
	if len(port) > 5 {
		return errBadHost
	}
	p := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return errBadHost
		}
		p = p*10 + int(c-'0')
	}
	if p > 65535 {
		return errBadHost
	}
	return nil
}

// ipLiteral accepts an IPv6 address between brackets. IPvFuture and zone
// identifiers are refused: no HTTP client sends them.
func ipLiteral(b []byte) bool {
	if len(b) == 0 || len(b) > 45 || bytes.IndexByte(b, '%') >= 0 {
		return false
	}
	for _, c := range b {
		if !(c == ':' || c == '.' || ('0' <= c && c <= '9') || ('a' <= lower(c) && lower(c) <= 'f')) {
			return false
		}
	}
	a, err := netip.ParseAddr(string(b))
	return err == nil && a.Is6()
}

// regNameOrIPv4 accepts a reg-name (unreserved / sub-delims, no pct-encoding:
// dally does not decode host names) or a dotted-decimal IPv4address.
//
// A name whose last label is numeric ("0x7f.1", "017700000001",
// "127.01.0.1") must be a canonical dotted-quad: RFC 3986 §7.4 warns that
// such names are read as addresses, in octal or hex, by some resolvers, so
// two components could reach different hosts from one name.
func regNameOrIPv4(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !isRegNameChar[c] {
			return false
		}
	}
	last := h
	if last[len(last)-1] == '.' {
		last = last[:len(last)-1]
	}
	if i := bytes.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	numeric := len(last) > 0
	for _, c := range last {
		if c < '0' || c > '9' {
			numeric = false
			break
		}
	}
	if len(last) > 1 && last[0] == '0' && lower(last[1]) == 'x' {
		numeric = true
	}
	return !numeric || dottedQuad(h)
}

// dottedQuad: IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet
// with no leading zeros (RFC 3986 §3.2.2).
func dottedQuad(h []byte) bool {
	// One pass over the bytes (four IndexByte calls cost more than the
	// whole address).
	parts, v, digits := 0, 0, 0
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == '.' {
			if digits == 0 || v > 255 {
				return false
			}
			parts++
			v, digits = 0, 0
			continue
		}
		c := h[i]
		if c < '0' || c > '9' || digits == 3 || digits > 0 && v == 0 {
			return false // not a digit, four digits, or a leading zero
		}
		v = v*10 + int(c-'0')
		digits++
	}
	return parts == 4
}
