package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/internal/fixtures"
)

// smugglingCase is one block of testdata/smuggling/cases.txt.
type smugglingCase struct {
	name, note string
	raw        []byte
	reject     int        // want: reject STATUS (0: requests)
	requests   []seenCall // want: requests ...
	then       string     // "open", "closed" or "reject"
	thenStatus int        // for then: reject STATUS
	line       int
}

// seenCall is what the handler saw of one request. Fields left empty in
// an expectation are not compared (but body is: "" means no body bytes).
type seenCall struct {
	method, target string
	body           string
	host           string   // compared when set in the expectation
	trailers       []string // non-empty trailer fields, sorted
	bodyErr        int      // status of the *h1.Error the body's Read returned
}

func (c seenCall) String() string {
	s := c.method + " " + c.target
	if c.body != "" {
		s += " body=" + strconv.Quote(c.body)
	}
	if c.host != "" {
		s += " host=" + c.host
	}
	if len(c.trailers) > 0 {
		s += " trailers=" + strings.Join(c.trailers, ",")
	}
	if c.bodyErr != 0 {
		s += " bodyerr=" + strconv.Itoa(c.bodyErr)
	}
	return s
}

// parseCalls reads "METHOD TARGET [k=v ...] | ...".
func parseCalls(s string) ([]seenCall, error) {
	var out []seenCall
	for _, item := range strings.Split(s, " | ") {
		item = strings.TrimSpace(item)
		method, rest, _ := strings.Cut(item, " ")
		target, rest, _ := strings.Cut(rest, " ")
		if method == "" || target == "" {
			return nil, fmt.Errorf("request %q: want METHOD TARGET", item)
		}
		c := seenCall{method: method, target: target}
		for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				return nil, fmt.Errorf("request %q: %q is not key=value", item, rest)
			}
			if strings.HasPrefix(v, `"`) {
				q, err := strconv.QuotedPrefix(v)
				if err != nil {
					return nil, fmt.Errorf("request %q: %v", item, err)
				}
				rest = v[len(q):]
				v, _ = strconv.Unquote(q)
			} else {
				v, rest, _ = strings.Cut(v, " ")
			}
			switch k {
			case "body":
				c.body = v
			case "host":
				c.host = v
			case "trailers":
				c.trailers = strings.Split(v, ",")
			case "bodyerr":
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, err
				}
				c.bodyErr = n
			default:
				return nil, fmt.Errorf("request %q: unknown key %q", item, k)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func loadSmugglingCorpus(t testing.TB) []smugglingCase {
	t.Helper()
	f, err := os.Open("testdata/smuggling/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []smugglingCase
	var cur *smugglingCase
	names := map[string]bool{}
	flush := func() {
		if cur == nil {
			return
		}
		c := *cur
		cur = nil
		switch {
		case c.name == "" || len(c.raw) == 0:
			t.Fatalf("cases.txt:%d: case without name or raw", c.line)
		case names[c.name]:
			t.Fatalf("cases.txt:%d: duplicate name %s", c.line, c.name)
		case c.reject == 0 && len(c.requests) == 0:
			t.Fatalf("cases.txt:%d: %s has no want", c.line, c.name)
		case c.reject == 0 && c.then == "":
			t.Fatalf("cases.txt:%d: %s: requests without then", c.line, c.name)
		}
		names[c.name] = true
		cases = append(cases, c)
	}
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("cases.txt:%d: want key: value", ln)
		}
		val = strings.TrimLeft(val, " ")
		if cur == nil {
			cur = &smugglingCase{line: ln}
		}
		fail := func(err error) { t.Fatalf("cases.txt:%d: %s: %v", ln, key, err) }
		switch key {
		case "name":
			cur.name = val
		case "note":
			cur.note += val + " "
		case "raw":
			b, err := fixtures.Unescape(val)
			if err != nil {
				fail(err)
			}
			cur.raw = append(cur.raw, b...)
		case "want":
			if s, ok := strings.CutPrefix(val, "reject "); ok {
				n, err := strconv.Atoi(s)
				if err != nil {
					fail(err)
				}
				cur.reject = n
			} else if s, ok := strings.CutPrefix(val, "requests "); ok {
				calls, err := parseCalls(s)
				if err != nil {
					fail(err)
				}
				cur.requests = calls
			} else {
				fail(fmt.Errorf("unknown want %q", val))
			}
		case "then":
			switch {
			case val == "open" || val == "closed":
				cur.then = val
			case strings.HasPrefix(val, "reject "):
				n, err := strconv.Atoi(strings.TrimPrefix(val, "reject "))
				if err != nil {
					fail(err)
				}
				cur.then, cur.thenStatus = "reject", n
			default:
				fail(fmt.Errorf("unknown then %q", val))
			}
		default:
			fail(fmt.Errorf("unknown key"))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// callLog records the handler's calls by client address, so that parallel
// connections to one server keep separate books.
type callLog struct {
	mu    sync.Mutex
	calls map[string][]seenCall // guarded by mu
}

func (l *callLog) of(remote string) []seenCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls[remote])
}

// handler reads the whole body (except for /noread), records what it saw,
// and answers "ok", or the status of a body framing error.
func (l *callLog) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := seenCall{method: r.Method, target: r.RequestURI, host: r.Host}
		if r.URL.Path != "/noread" {
			b, err := io.ReadAll(r.Body)
			c.body = string(b)
			var he *h1.Error
			switch {
			case errors.As(err, &he):
				c.bodyErr = he.Status
			case err != nil:
				c.bodyErr = -1
			}
		}
		for k, vs := range r.Trailer {
			if len(vs) > 0 {
				c.trailers = append(c.trailers, k)
			}
		}
		sort.Strings(c.trailers)
		l.mu.Lock()
		if l.calls == nil {
			l.calls = map[string][]seenCall{}
		}
		l.calls[r.RemoteAddr] = append(l.calls[r.RemoteAddr], c)
		l.mu.Unlock()
		if c.bodyErr > 0 {
			http.Error(w, "bad body", c.bodyErr)
			return
		}
		io.WriteString(w, "ok")
	})
}

func sameCalls(want, got []seenCall) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if w.method != g.method || w.target != g.target || w.body != g.body ||
			w.bodyErr != g.bodyErr || !slices.Equal(w.trailers, g.trailers) ||
			(w.host != "" && w.host != g.host) {
			return false
		}
	}
	return true
}

// TestSmugglingCorpus sends each case of testdata/smuggling/cases.txt to a
// real server, whole and then one byte per write, and checks the outcome
// the case states: a refused head gets its status, Connection: close and an
// orderly close without a handler call; an accepted one is read one way
// (the handler sees exactly the listed requests, bodies and trailers), and
// what follows is a request only when the framing says so.
func TestSmugglingCorpus(t *testing.T) {
	cases := loadSmugglingCorpus(t)
	var log callLog
	_, addr := startServer(t, &Server{ErrorLog: discardLog()}, log.handler())
	rejected := map[int]int{}
	for _, c := range cases {
		if c.reject != 0 {
			rejected[c.reject]++
		}
	}
	t.Logf("%d cases: %d accepted, rejected by status %v", len(cases), len(cases)-sumValues(rejected), rejected)
	for _, c := range cases {
		for _, split := range []bool{false, true} {
			name := c.name + "/whole"
			if split {
				name = c.name + "/bytewise"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := dial(t, addr)
				if split {
					for i := range c.raw {
						if _, err := w.c.Write(c.raw[i : i+1]); err != nil {
							// The server may refuse early and close: what
							// matters is what it answered.
							break
						}
					}
				} else {
					w.send(string(c.raw))
				}
				me := w.c.LocalAddr().String()
				if c.reject != 0 {
					wantRefused(t, w, c.reject)
					if got := log.of(me); len(got) != 0 {
						t.Fatalf("handler ran for a refused head: %v", got)
					}
					return
				}
				for i, want := range c.requests {
					resp, body := w.response(want.method)
					status := 200
					if want.bodyErr > 0 {
						status = want.bodyErr
					}
					if resp.StatusCode != status {
						t.Fatalf("response %d: status %d (%q), want %d; handler saw %v", i+1, resp.StatusCode, body, status, log.of(me))
					}
				}
				switch c.then {
				case "open":
					w.send("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
					if resp, _ := w.response("GET"); resp.StatusCode != 200 {
						t.Fatalf("probe after the case: status %d", resp.StatusCode)
					}
				case "closed":
					w.wantClosed()
				case "reject":
					wantRefused(t, w, c.thenStatus)
				}
				want := c.requests
				if c.then == "open" {
					want = append(slices.Clone(want), seenCall{method: "GET", target: "/probe"})
				}
				if got := log.of(me); !sameCalls(want, got) {
					t.Fatalf("handler saw\n\t%v\nwant\n\t%v\n(%s)", got, want, c.note)
				}
			})
		}
	}
}

// wantRefused reads an error response with the given status, a reason,
// Connection: close, then an orderly close.
func wantRefused(t *testing.T, w *wire, status int) {
	t.Helper()
	resp, body := w.response("GET")
	if resp.StatusCode != status {
		t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, status)
	}
	if !resp.Close || strings.TrimSpace(body) == "" {
		t.Fatalf("want Connection: close and a reason, got close=%v body=%q", resp.Close, body)
	}
	w.wantClosed()
}

func sumValues(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// probe is a well-behaved keep-alive client that asks for /probe every few
// milliseconds while a test attacks the server, and counts what it got.
type probe struct {
	stop  chan struct{}
	done  chan struct{}
	ok    atomic.Int64
	errs  []error
	worst time.Duration // reported, never asserted: latency belongs in benchmarks
}

func startProbe(addr string) *probe {
	p := &probe{stop: make(chan struct{}), done: make(chan struct{})}
	// The probe is an established client: it connects before the attack
	// starts (a newcomer during a flood may rightly get 503).
	c, err := net.Dial("tcp", addr)
	if err != nil {
		p.errs = append(p.errs, err)
		c = nil
	}
	go func() {
		defer close(p.done)
		var br *bufio.Reader
		if c != nil {
			br = bufio.NewReader(c)
		}
		defer func() {
			if c != nil {
				c.Close()
			}
		}()
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if c == nil {
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					p.errs = append(p.errs, err)
					continue
				}
				br = bufio.NewReader(c)
			}
			t0 := time.Now()
			c.SetDeadline(t0.Add(5 * time.Second))
			_, err := io.WriteString(c, "GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
			var resp *http.Response
			if err == nil {
				resp, err = http.ReadResponse(br, nil)
			}
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("probe: status %d", resp.StatusCode)
				}
			}
			if err != nil {
				p.errs = append(p.errs, err)
				c.Close()
				c = nil
				continue
			}
			p.ok.Add(1)
			p.worst = max(p.worst, time.Since(t0))
		}
	}()
	return p
}

// finish stops the probe and fails the test unless every probe request
// was answered (and at least a few were made).
func (p *probe) finish(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); p.ok.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	close(p.stop)
	<-p.done
	t.Logf("probe: %d answers, worst %v (noisy shared machine; not asserted)", p.ok.Load(), p.worst)
	if len(p.errs) > 0 || p.ok.Load() < 3 {
		t.Fatalf("probe: %d answers, errors %v", p.ok.Load(), p.errs)
	}
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
}

// Slowloris: many heads sent byte by byte, slower than the server allows.
// Each is answered 408 and closed at HeaderTimeout; the probe is served
// throughout.
func TestSlowlorisManyConnections(t *testing.T) {
	n := 50
	if testing.Short() {
		n = 20
	}
	s, addr := startServer(t, &Server{HeaderTimeout: time.Second}, http.HandlerFunc(okHandler))
	p := startProbe(addr)
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				statuses[i] = -1
				return
			}
			defer c.Close()
			go func() {
				for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n") {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				statuses[i] = -2
				return
			}
			statuses[i] = resp.StatusCode
			if _, err := io.Copy(io.Discard, resp.Body); err != nil || !resp.Close {
				statuses[i] = -3
				t.Logf("slow client %d: %d close=%v body error %v after %v", i, resp.StatusCode, resp.Close, err, time.Since(t0))

				return
			}
			if _, err := br.ReadByte(); err != io.EOF {
				statuses[i] = -4 // want an orderly close after the 408
			}
		}()
	}
	wg.Wait()
	p.finish(t)
	for i, st := range statuses {
		if st != 408 {
			t.Fatalf("slow client %d: %d, want 408 then close (-1 dial, -2 no response, -3 body or no close, -4 not closed)", i, st)
		}
	}
	if got := s.Stats().HeaderTimeouts; got != int64(n) {
		t.Fatalf("header timeouts %d, want %d", got, n)
	}
}

// A slow body: the body timeout bounds each wait for the next byte, not
// the whole body. A body that keeps coming (slower than the client could,
// but within the bound) is read whole; one that stalls ends the request and
// the connection, and the handler's Read says so.
func TestSlowBody(t *testing.T) {
	readErr := make(chan error, 2)
	_, addr := startServer(t, &Server{BodyTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			io.WriteString(w, "ok")
			return
		}
		b, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			http.Error(w, "body too slow", http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "got %d", len(b))
	}))
	p := startProbe(addr)

	trickle := dial(t, addr)
	trickle.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	for i := 0; i < 10; i++ {
		time.Sleep(60 * time.Millisecond) // 600 ms in all, 60 ms per wait
		trickle.send("x")
	}
	if _, body := trickle.response("POST"); body != "got 10" || <-readErr != nil {
		t.Fatalf("trickled body: %q", body)
	}
	trickle.wantOpen()

	stall := dial(t, addr)
	stall.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nxy")
	resp, _ := stall.response("POST")
	if err := <-readErr; err == nil || resp.StatusCode != 408 || !resp.Close {
		t.Fatalf("stalled body: read error %v, status %d close=%v", err, resp.StatusCode, resp.Close)
	}
	stall.wantClosed()
	p.finish(t)
}

// A reader that never reads: the write timeout ends the response, and the
// server never holds more than the socket buffers of it (the handler's
// Write blocks: nothing is queued in memory).
func TestSlowReaderWriteTimeout(t *testing.T) {
	const total = 64 << 20
	written := make(chan int64, 1)
	s, addr := startServer(t, &Server{WriteTimeout: 300 * time.Millisecond, ErrorLog: discardLog()}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(total))
		buf := make([]byte, 16<<10)
		var n int64
		for n < total {
			k, err := w.Write(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		written <- n
	}))
	p := startProbe(addr)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return nil
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	var n int64
	select {
	case n = <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the write timeout did not end the handler's writes")
	}
	// Loopback socket buffers may grow to a few MiB; what matters is that
	// the server did not take the 64 MiB from the handler.
	if n >= 16<<20 {
		t.Fatalf("handler wrote %d bytes to a client that reads nothing", n)
	}
	waitFor(t, "the connection to close", 5*time.Second, func() bool { return s.Stats().Open <= 1 })
	p.finish(t)
	t.Logf("handler got %d bytes out before the write timeout", n)
}

// Many idle keep-alive connections hold no goroutine: the process's
// goroutine count hardly moves while they wait, and the probe is served.
func TestManyIdleConnections(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 1000
	}
	s, addr := startServer(t, nil, http.HandlerFunc(okHandler))
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		c.Write(req)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("conn %d: %v", i, err)
		}
		resp.Body.Close()
	}
	p := startProbe(addr)
	waitFor(t, "all idle", 5*time.Second, func() bool { return s.Stats().Idle >= n })
	// Workers park for a while after the burst: a bound well below n, not
	// the count of connections, is the claim.
	if g := runtime.NumGoroutine() - base; g > 200 {
		t.Fatalf("%d idle connections hold %d goroutines", n, g)
	}
	p.finish(t)
	for _, c := range conns {
		c.Close()
	}
	conns = conns[:0]
	waitFor(t, "the server to see them go", 10*time.Second, func() bool { return s.Stats().Open == 0 })
}

// A connection flood past MaxConns: newcomers take the slots of idle
// connections that have sat past their minimum window (LRU) or get a 503
// with Retry-After; every one gets a well-formed answer, and the probe
// (recently active, so never shed) keeps being served.
func TestConnectionFlood(t *testing.T) {
	const maxConns = 64
	n := 1000
	if testing.Short() {
		n = 300
	}
	s, addr := startServer(t, &Server{MaxConns: maxConns, MinIdleWindow: 50 * time.Millisecond, MaxConnsPerClient: -1}, http.HandlerFunc(okHandler))
	p := startProbe(addr)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	held := make(chan net.Conn, n)
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st := -1
			defer func() { mu.Lock(); statuses[st]++; mu.Unlock() }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			held <- c // keep it open: the flood holds its slots
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				st = -2
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				st = -3
				return
			}
			io.Copy(io.Discard, resp.Body)
			st = resp.StatusCode
			if st == 503 && (resp.Header.Get("Retry-After") == "" || !resp.Close) {
				st = -4
			}
		}()
	}
	wg.Wait()
	close(held)
	t.Logf("flood of %d over MaxConns %d: %v; stats: shed %d, 503 %d", n, maxConns, statuses, s.Stats().Closed["shed"], s.Stats().Rejected503)
	if statuses[200]+statuses[503] != n {
		t.Fatalf("answers %v: want only 200 and 503 (with Retry-After and close)", statuses)
	}
	// The server is full of the flood's idle connections; once they are
	// past their minimum window, a newcomer takes the oldest one's slot.
	time.Sleep(100 * time.Millisecond)
	shed := s.Stats().Closed["shed"]
	late := dial(t, addr)
	late.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := late.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("newcomer after the flood: %d, want 200 by shedding an idle connection", resp.StatusCode)
	}
	if s.Stats().Closed["shed"] <= shed {
		t.Fatal("newcomer served without shedding: the flood did not fill the server")
	}
	p.finish(t)
	late.c.Close()
	for c := range held {
		c.Close()
	}
	waitFor(t, "the flood to leave", 10*time.Second, func() bool { return s.Stats().Open == 0 })
}

// A pipelined flood: one client writes thousands of requests without
// reading. The server answers in order, holds back at most a flush
// threshold of output (then the full socket stops it reading), and serves
// the probe between the flood's requests.
func TestPipelinedFlood(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	_, addr := startServer(t, &Server{MaxRequestsPerConn: -1, DisableGreedyControl: true}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wrote := make(chan error, 1)
	go func() {
		var b []byte
		for i := 0; i < n; i++ {
			b = fmt.Appendf(b, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		}
		_, err := c.Write(b)
		wrote <- err
	}()
	// Let the flood fill every buffer between the two ends before the
	// probe starts and before anything is read.
	time.Sleep(200 * time.Millisecond)
	p := startProbe(addr)
	time.Sleep(200 * time.Millisecond)
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if want := "/" + strconv.Itoa(i); string(b) != want {
			t.Fatalf("response %d: %q, want %q", i, b, want)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	p.finish(t)
}

// A head that gains a byte every 20 ms (well under a loop tick) past
// HeaderTimeout: the loop's head timer keeps finding the connection owned
// by the worker reading that byte; the worker must judge the deadline too.
// Before that fix the whole 4 s head was served.
func TestSlowlorisBytePerTick(t *testing.T) {
	_, addr := startServer(t, &Server{HeaderTimeout: time.Second}, http.HandlerFunc(okHandler))
	w := dial(t, addr)
	head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 160) + "\r\n\r\n"
	go func() {
		for i := 0; i < len(head); i++ {
			if _, err := w.c.Write([]byte{head[i]}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	resp, _ := w.response("GET")
	if resp.StatusCode != 408 || !resp.Close {
		t.Fatalf("status %d close=%v, want 408 and close", resp.StatusCode, resp.Close)
	}
	w.wantClosed()
}

// dialFrom dials addr from a given loopback source address, so that a test
// can play several clients (the server's per-client policy keys on it).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// R-U-Dead-Yet: bodies trickled at 10 bytes/s, each byte well within
// BodyTimeout. Without a rate bound each would hold its worker for as long
// as its Content-Length lasts, and MaxWorkers of them would starve everyone
// (the capture effect). MinBodyRate cuts them after its grace: the
// handlers' reads fail, their connections close, and the probe queued
// behind them is answered (its wait is logged, not asserted).
func TestTrickledBodiesAreCut(t *testing.T) {
	readErrs := make(chan error, 4)
	_, addr := startServer(t, &Server{MaxWorkers: 4, BodyTimeout: time.Second, ErrorLog: discardLog()}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			io.WriteString(w, "ok")
			return
		}
		_, err := io.Copy(io.Discard, r.Body)
		readErrs <- err
	}))
	stop := make(chan struct{})
	defer close(stop)
	var tricklers []net.Conn
	for i := 0; i < 4; i++ {
		c := dialFrom(t, fmt.Sprintf("127.0.0.%d", i+2), addr)
		tricklers = append(tricklers, c)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	w := dial(t, addr)
	w.send("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := w.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("probe: %d", resp.StatusCode)
	}
	t.Logf("probe answered after %v behind 4 trickled bodies (MaxWorkers 4)", time.Since(t0))
	for i := 0; i < 4; i++ {
		select {
		case err := <-readErrs:
			if err == nil {
				t.Fatal("a trickled body was read whole")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a trickled body still holds its worker")
		}
	}
	for i, c := range tricklers {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("trickler %d: connection not closed", i)
			}
		}
	}
}

// Slow reads: clients that read a large response 10 KiB/s hold their
// workers while the socket is full, but the kernel reports room only once
// a good part of the send buffer has drained, so each wait reaches
// WriteTimeout and the worker comes back: the queued probe is answered
// (after up to WriteTimeout; the delay is logged, not asserted).
func TestSlowReadersReleaseWorkers(t *testing.T) {
	cut := make(chan error, 4)
	_, addr := startServer(t, &Server{MaxWorkers: 4, WriteTimeout: time.Second, ErrorLog: discardLog()}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			io.WriteString(w, "ok")
			return
		}
		buf := make([]byte, 16<<10)
		t0 := time.Now()
		for i := 0; i < 4096; i++ {
			if _, err := w.Write(buf); err != nil {
				t.Logf("slow reader handler: %d KiB then %v after %v", i*16, err, time.Since(t0))
				cut <- err
				return
			}
		}
		cut <- nil
	}))
	stop := make(chan struct{})
	defer close(stop)
	for i := 0; i < 4; i++ {
		c := dialFrom(t, fmt.Sprintf("127.0.0.%d", i+2), addr)
		c.(*net.TCPConn).SetReadBuffer(4096)
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		go func() {
			buf := make([]byte, 1024)
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	t0 := time.Now()
	w := dial(t, addr)
	w.send("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := w.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("probe: %d", resp.StatusCode)
	}
	t.Logf("probe answered after %v", time.Since(t0))
	for i := 0; i < 4; i++ {
		if err := <-cut; err == nil {
			t.Fatal("a slow reader took 64 MiB within the write timeout")
		}
	}
}
