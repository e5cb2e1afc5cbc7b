package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/internal/fixtures"
)

// smugglingCase is a case of the server's corpus (server/testdata/smuggling):
// its name, its bytes, and whether its expected outcome lists /smuggled.
type smugglingCase struct {
	name       string
	raw        []byte
	smuggledOK bool
}

func loadCorpus(t *testing.T) []smugglingCase {
	t.Helper()
	b, err := os.ReadFile("../server/testdata/smuggling/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	var cases []smugglingCase
	var cur *smugglingCase
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			if strings.TrimSpace(line) == "" && cur != nil {
				cases, cur = append(cases, *cur), nil
			}
			continue
		}
		key, val, _ := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		if cur == nil {
			cur = &smugglingCase{}
		}
		switch key {
		case "name":
			cur.name = val
		case "raw":
			b, err := fixtures.Unescape(val)
			if err != nil {
				t.Fatalf("%s: %v", cur.name, err)
			}
			cur.raw = append(cur.raw, b...)
		case "want", "then":
			cur.smuggledOK = cur.smuggledOK || strings.Contains(val, "/smuggled")
		}
	}
	if cur != nil {
		cases = append(cases, *cur)
	}
	return cases
}

// recordingUpstream answers every request 200 and keeps, per connection,
// every byte it received, and the targets it served.
type recordingUpstream struct {
	ln      net.Listener
	mu      sync.Mutex
	streams []*bytes.Buffer // guarded by mu
	targets []string        // guarded by mu
	wg      sync.WaitGroup
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &recordingUpstream{ln: ln}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rec := &bytes.Buffer{}
			u.mu.Lock()
			u.streams = append(u.streams, rec)
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				br := bufio.NewReader(io.TeeReader(c, lockedWriter{&u.mu, rec}))
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					u.mu.Lock()
					u.targets = append(u.targets, req.RequestURI)
					u.mu.Unlock()
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// h1Requests reads a connection's bytes as dally's codec does: each
// request's method, target and body, until the bytes end or fail.
func h1Requests(b []byte) ([]string, error) {
	var out []string
	for len(b) > 0 {
		var r h1.Request
		n, err := h1.ParseRequest(b, &r, nil)
		if err != nil {
			return out, err
		}
		b = b[n:]
		kind, length := h1.RequestBody(&r)
		var body []byte
		switch kind {
		case h1.BodyLength:
			if int64(len(b)) < length {
				return out, io.ErrUnexpectedEOF
			}
			body, b = b[:length], b[length:]
		case h1.BodyChunked:
			var d h1.ChunkedDecoder
			for {
				data, used, err := d.Next(b)
				body = append(body, data...)
				b = b[used:]
				if err == io.EOF {
					break
				}
				if err != nil {
					return out, err
				}
			}
		}
		out = append(out, fmt.Sprintf("%s %s %q", r.Method, r.Target, body))
	}
	return out, nil
}

// stdRequests reads the same bytes with net/http's parser.
func stdRequests(b []byte) ([]string, error) {
	var out []string
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		if _, err := br.Peek(1); err != nil {
			return out, nil
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%s %s %q", req.Method, req.RequestURI, body))
	}
}

// TestSmugglingCorpusThroughProxy sends the server's smuggling corpus
// through the reverse proxy. Whatever a case is, what reaches the upstream
// is read the same way by two parsers (dally's h1 and net/http's), and a
// request for /smuggled never reaches it unless the case's own framing
// makes it a request.
func TestSmugglingCorpusThroughProxy(t *testing.T) {
	up := newRecordingUpstream(t)
	addr := startProxy(t, reverse(t, "http://"+up.ln.Addr().String()))
	cases := loadCorpus(t)
	if len(cases) < 100 {
		t.Fatalf("%d cases: corpus not read", len(cases))
	}
	for _, c := range cases {
		up.mu.Lock()
		before := len(up.targets)
		up.mu.Unlock()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write(c.raw)
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, conn) // until the proxy closes: every response written
		conn.Close()
		up.mu.Lock()
		seen := append([]string(nil), up.targets[before:]...)
		up.mu.Unlock()
		for _, target := range seen {
			if strings.Contains(target, "/smuggled") && !c.smuggledOK {
				t.Errorf("%s: /smuggled reached the upstream (%v)", c.name, seen)
			}
		}
	}
	// Let the proxy's idle upstream connections go, then compare parsers.
	up.mu.Lock()
	defer up.mu.Unlock()
	total := 0
	// A connection may end inside a message: the proxy stops an upstream
	// request whose client body broke, and closes. Both parsers must then
	// see the same complete messages and an incomplete one; neither may
	// find an error the other does not.
	incomplete := func(err error) bool {
		return err == h1.ErrNeedMore || err == io.ErrUnexpectedEOF || err == io.EOF
	}
	for i, s := range up.streams {
		a, aerr := h1Requests(s.Bytes())
		b, berr := stdRequests(s.Bytes())
		if incomplete(aerr) && incomplete(berr) {
			aerr, berr = nil, nil
		}
		if aerr != nil || berr != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("upstream connection %d: h1 %v (%v), net/http %v (%v)", i, a, aerr, b, berr)
		}
		total += len(a)
	}
	t.Logf("%d cases through the proxy: %d requests reached the upstream over %d connections, read alike by both parsers",
		len(cases), total, len(up.streams))
}
