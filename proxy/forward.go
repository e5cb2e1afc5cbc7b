package proxy

import (
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
)

// serveForward handles an absolute-form request or CONNECT on a forward
// proxy.
func (p *Proxy) serveForward(w http.ResponseWriter, r *http.Request) {
	if p.ForwardAuth != nil && !p.authorized(r) {
		w.Header()["Proxy-Authenticate"] = []string{`Basic realm="dally proxy"`}
		fail(w, r, http.StatusProxyAuthRequired, "proxy authentication required")
		return
	}
	if r.Method == "CONNECT" {
		p.connect(w, r)
		return
	}
	o := new(outbound)
	upgrade := p.prepare(r, false, o)
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		fail(w, r, http.StatusBadRequest, "only http:// targets are forwarded (use CONNECT for https)")
		return
	}
	target := &o.target
	*target = *r.URL
	target.Fragment, target.RawFragment = "", ""
	if target.Port() == "" {
		target.Host = net.JoinHostPort(target.Hostname(), "80")
	}
	// RFC 9112 §3.2.2: the target's authority is the Host; a Host field
	// that disagrees is replaced.
	host := r.URL.Host
	if upgrade != nil {
		p.upgrade(w, r, nil, o, host, upgrade)
		return
	}
	p.forward(w, r, nil, o, host)
}

// authorized checks Proxy-Authorization: Basic (RFC 7617) with ForwardAuth.
func (p *Proxy) authorized(r *http.Request) bool {
	v := r.Header.Get("Proxy-Authorization")
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return false
	}
	return p.ForwardAuth(user, pass)
}

// BasicAuth is a ForwardAuth that accepts one user and password, compared
// in constant time.
func BasicAuth(user, password string) func(string, string) bool {
	return func(u, pw string) bool {
		a := subtle.ConstantTimeCompare([]byte(u), []byte(user))
		b := subtle.ConstantTimeCompare([]byte(pw), []byte(password))
		return a&b == 1
	}
}
