package status

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

// fixture is a dally server on 127.0.0.1:0 with idle keep-alive
// connections held open and, optionally, a load loop.
type fixture struct {
	srv  *server.Server
	addr string
	held []net.Conn // idle keep-alive connections, one request served on each
}

func newFixture(t *testing.T, srv *server.Server) *fixture {
	t.Helper()
	if srv.Handler == nil {
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	f := &fixture{srv: srv, addr: ln.Addr().String()}
	t.Cleanup(func() {
		for _, c := range f.held {
			c.Close()
		}
		srv.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	// One connection accepted orders Serve's setup before any Close: Close
	// straight after Serve races in the server (see the report to the server's
	// owner: acceptor.loop is set after the acceptor is published).
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().Accepted == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server accepted nothing in 5 s")
		}
	}
	c.Close()
	return f
}

// hold opens n connections, makes one request on each and leaves it idle.
func (f *fixture) hold(t *testing.T, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		f.held = append(f.held, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.SetDeadline(time.Time{})
	}
}

// load runs workers keep-alive clients until ctx ends; it returns a wait
// function reporting the requests made.
func (f *fixture) load(ctx context.Context, workers int) (wait func() int) {
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for ctx.Err() == nil && n < 200000 {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+f.addr+"/", nil)
				resp, err := cl.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n++
				time.Sleep(time.Millisecond) // a steady load, not a flood: the test shares two cores
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	return func() int {
		wg.Wait()
		tr.CloseIdleConnections()
		return total
	}
}

func getJSON(t *testing.T, url string) Snapshot {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	var snap Snapshot
	if err := dec.Decode(&snap); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return snap
}

func stateNames() []string {
	var out []string
	for _, s := range States {
		out = append(out, s.String())
	}
	return out
}

func TestSnapshotJSONUnderLoad(t *testing.T) {
	// A fixed idle timeout keeps the held connections through CPU spikes.
	f := newFixture(t, &server.Server{IdleTimeout: time.Minute, IdleTimeoutMin: time.Minute})
	f.hold(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wait := f.load(ctx, 3)
	defer func() { cancel(); wait() }()

	page := Handler(f.srv, WithRows(4), WithInterval(20*time.Millisecond), WithTitle("test"))
	defer page.Close()
	web := httptest.NewServer(page)
	defer web.Close()

	snap := getJSON(t, web.URL+"/status.json")
	if got, want := strings.Join(snap.States, ","), strings.Join(stateNames(), ","); got != want {
		t.Errorf("states %s, want %s", got, want)
	}
	if snap.Title != "test" || snap.IntervalMS != 20 || snap.HistoryMS != DefaultHistory.Milliseconds() {
		t.Errorf("title %q interval %d history %d", snap.Title, snap.IntervalMS, snap.HistoryMS)
	}
	if len(snap.Conns) != 4 {
		t.Errorf("%d rows, want the bound of 4 (%d open)", len(snap.Conns), snap.ConnsTotal)
	}
	if snap.ConnsTotal < 6 || snap.Omitted < 2 || snap.Omitted > snap.ConnsTotal-int64(len(snap.Conns)) {
		t.Errorf("total %d omitted %d with %d rows", snap.ConnsTotal, snap.Omitted, len(snap.Conns))
	}
	valid := map[string]bool{}
	for _, s := range snap.States {
		valid[s] = true
	}
	for _, c := range snap.Conns {
		host, _, err := net.SplitHostPort(c.Client)
		if err != nil || host != "127.0.0.1" || !valid[c.State] || c.Age < 0 || c.Requests < 0 || c.ID == 0 {
			t.Errorf("bad row %+v", c)
		}
		if c.State != "idle" && c.Idle != 0 {
			t.Errorf("row %+v: idle time on a connection that is not idle", c)
		}
	}
	if len(snap.Samples) == 0 || len(snap.Samples[0].Conns) != len(States) {
		t.Fatalf("samples %+v", snap.Samples)
	}
	if snap.Stats.Accepted < 6 || snap.Stats.Open < 6 || snap.Stats.IdleTimeout <= 0 || snap.Stats.KeepAlive <= 0 {
		t.Errorf("stats %+v", snap.Stats)
	}

	// Under load the history grows; ?since returns only the new samples,
	// in order, and the request counter they carry rises.
	last := snap.Samples[len(snap.Samples)-1]
	time.Sleep(300 * time.Millisecond)
	next := getJSON(t, web.URL+"/status.json?since="+strconv.Itoa(last.Seq))
	if len(next.Samples) < 3 {
		t.Fatalf("%d new samples after 300 ms at 20 ms", len(next.Samples))
	}
	prev := last
	for _, s := range next.Samples {
		if s.Seq != prev.Seq+1 || s.T < prev.T || s.Requests < prev.Requests {
			t.Fatalf("sample %+v after %+v", s, prev)
		}
		sum := 0
		for _, n := range s.Conns {
			sum += n
		}
		if sum < 6 {
			t.Errorf("sample %d counts %d connections, want >= 6 held", s.Seq, sum)
		}
		prev = s
	}
	if prev.Requests <= last.Requests {
		t.Errorf("requests did not rise under load: %d -> %d", last.Requests, prev.Requests)
	}

	// With room for every row, each held connection is listed, idle, with
	// its one request.
	all := Handler(f.srv, WithRows(1000))
	defer all.Close()
	rec := httptest.NewRecorder()
	all.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	var full Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &full); err != nil {
		t.Fatal(err)
	}
	byClient := map[string]Conn{}
	for _, c := range full.Conns {
		byClient[c.Client] = c
	}
	for _, hc := range f.held {
		c, ok := byClient[hc.LocalAddr().String()]
		if !ok || c.State != "idle" || c.Requests != 1 {
			t.Errorf("held %s: row %+v (found %v)", hc.LocalAddr(), c, ok)
		}
	}
}

func TestEndpoints(t *testing.T) {
	f := newFixture(t, &server.Server{})
	page := Handler(f.srv)
	defer page.Close()
	web := httptest.NewServer(http.StripPrefix("/status", page))
	defer web.Close()
	tests := []struct {
		name, method, path string
		code               int
		ctype              string
	}{
		{"page", "GET", "/status/", 200, "text/html; charset=utf-8"},
		{"page without slash", "GET", "/status", 200, "text/html; charset=utf-8"},
		{"json", "GET", "/status/status.json", 200, "application/json"},
		{"json beside the slashless page", "GET", "/status/status.json?since=0", 200, "application/json"},
		{"head", "HEAD", "/status/", 200, "text/html; charset=utf-8"},
		{"bad since", "GET", "/status/status.json?since=x", 400, "text/plain; charset=utf-8"},
		{"negative since", "GET", "/status/status.json?since=-1", 400, "text/plain; charset=utf-8"},
		{"post", "POST", "/status/", 405, "text/plain; charset=utf-8"},
		{"unknown", "GET", "/status/nothing", 404, "text/plain; charset=utf-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, web.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.ctype)
			}
			if tc.code == 200 && tc.method == "GET" && strings.HasPrefix(tc.ctype, "text/html") {
				// Self-contained: nothing fetched from elsewhere.
				for _, bad := range []string{"<script src", "<link", "@import", "url(http", "cdn"} {
					if strings.Contains(string(body), bad) {
						t.Errorf("page contains %q", bad)
					}
				}
			}
		})
	}
}

// The ring keeps the last history/interval samples, numbered without gaps.
func TestRing(t *testing.T) {
	f := newFixture(t, &server.Server{})
	p := Handler(f.srv, WithInterval(time.Hour), WithHistory(5*time.Hour))
	for range 12 {
		p.sample()
	}
	for _, tc := range []struct {
		name        string
		since       int
		first, last int
	}{
		{"all kept", 0, 8, 12},
		{"newer than 10", 10, 11, 12},
		{"older than the ring", 3, 8, 12},
		{"none newer", 12, 0, 0},
		{"from the future", 99, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := p.since(tc.since)
			if tc.first == 0 {
				if len(got) != 0 {
					t.Fatalf("got %d samples, want none", len(got))
				}
				return
			}
			if len(got) != tc.last-tc.first+1 || got[0].Seq != tc.first || got[len(got)-1].Seq != tc.last {
				t.Fatalf("got %d samples %d..%d, want %d..%d", len(got), got[0].Seq, got[len(got)-1].Seq, tc.first, tc.last)
			}
		})
	}
}

// The sampler starts on the first request or Start, once, and Close stops
// it: no goroutine is left behind.
func TestSamplerLifecycle(t *testing.T) {
	f := newFixture(t, &server.Server{})
	settle := func() int {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()

	p := Handler(f.srv, WithInterval(5*time.Millisecond))
	if n := settle(); n != before {
		t.Fatalf("Handler alone started %d goroutines", n-before)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil)) // lazy start
	p.Start()
	p.Start()
	if n := settle(); n != before+1 {
		t.Fatalf("%d goroutines after start, want %d", n, before+1)
	}
	time.Sleep(50 * time.Millisecond)
	if got, _ := p.since(0); len(got) < 3 {
		t.Errorf("%d samples after 50 ms at 5 ms", len(got))
	}
	p.Close()
	p.Close()
	if n := settle(); n != before {
		t.Fatalf("%d goroutines after Close, want %d", n, before)
	}
	got, _ := p.since(0)
	time.Sleep(30 * time.Millisecond)
	if again, _ := p.since(0); len(again) != len(got) {
		t.Errorf("sampling went on after Close: %d -> %d", len(got), len(again))
	}
	// Closed, it still answers, and does not start again.
	rec = httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	if rec.Code != 200 {
		t.Errorf("after Close: %d", rec.Code)
	}
	if n := settle(); n != before {
		t.Fatalf("a request after Close started a goroutine (%d, want %d)", n, before)
	}
	// Close before any start is fine too.
	Handler(f.srv).Close()
}

// The page carries a first snapshot, escaped so no title can end its
// script element.
func TestPageEmbedsSnapshot(t *testing.T) {
	f := newFixture(t, &server.Server{})
	f.hold(t, 2)
	page := Handler(f.srv, WithTitle("</script><b>x"))
	defer page.Close()
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if strings.Contains(body, "</script><b>") {
		t.Fatal("the title ended the script element")
	}
	_, rest, ok := strings.Cut(body, `<script id="initial" type="application/json">`)
	js, _, ok2 := strings.Cut(rest, "</script>")
	if !ok || !ok2 {
		t.Fatal("no embedded snapshot")
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(js), &snap); err != nil {
		t.Fatalf("embedded snapshot: %v", err)
	}
	if snap.Title != "</script><b>x" || snap.ConnsTotal < 2 || len(snap.Conns) < 2 || len(snap.Samples) == 0 {
		t.Errorf("embedded snapshot: title %q, %d open, %d rows, %d samples", snap.Title, snap.ConnsTotal, len(snap.Conns), len(snap.Samples))
	}
}
