package client

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Through an http proxy the request line is in absolute-form (RFC 9112
// §3.2.2) and the proxy's credentials go in Proxy-Authorization.
func TestProxyAbsoluteForm(t *testing.T) {
	var mu sync.Mutex
	var lines, auths []string
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader(line), br)))
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, line)
			auths = append(auths, req.Header.Get("Proxy-Authorization"))
			mu.Unlock()
			io.WriteString(c, ok200("via proxy"))
		}
	})
	pu, _ := url.Parse("http://user:pw@" + m.ln.Addr().String())
	tr := &Transport{Proxy: http.ProxyURL(pu)}
	c := &http.Client{Transport: tr}
	for i := 0; i < 2; i++ {
		if got, _ := get(t, c, "http://origin.invalid:8080/x?q=1"); got != "via proxy" {
			t.Fatalf("body %q", got)
		}
	}
	if lines[0] != "GET http://origin.invalid:8080/x?q=1 HTTP/1.1\r\n" || auths[0] != "Basic dXNlcjpwdw==" {
		t.Fatalf("request line %q auth %q", lines[0], auths[0])
	}
	if st := tr.Stats(); st.ConnsOpened != 1 || st.Reused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// https: crypto/tls over the dialled connection, reused like plain TCP.
func TestTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure "+r.Proto)
	}))
	defer ts.Close()
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tr := &Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	c := &http.Client{Transport: tr}
	for i := 0; i < 3; i++ {
		if got, _ := get(t, c, ts.URL+"/"); got != "secure HTTP/1.1" {
			t.Fatalf("body %q", got)
		}
	}
	if st := tr.Stats(); st.ConnsOpened != 1 || st.Reused != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// An idle pooled connection holds no read buffer unless it is one of the
// warmIdle most recently used (TestIdleBuffersOnlyWarm), and its parsed
// head no longer points into one.
func TestIdleHoldsNoBuffer(t *testing.T) {
	url := fixedServer(t, "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 2\r\n\r\nok")
	tr := &Transport{MaxConnsPerHost: 8}
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, c, url) }()
	}
	wg.Wait()
	for _, p := range tr.pools {
		p.mu.Lock()
		for i, ic := range p.idle {
			if ic.buf != nil && i < len(p.idle)-warmIdle {
				t.Error("idle connection below the warm ones holds a buffer")
			}
			for _, f := range ic.resp.Fields[:cap(ic.resp.Fields)] {
				if f.Name != nil || f.Value != nil {
					t.Error("idle connection's fields alias a buffer")
				}
			}
		}
		p.mu.Unlock()
	}
}
