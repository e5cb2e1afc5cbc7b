package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

func TestPacer(t *testing.T) {
	start := time.Unix(1000, 0)
	p := NewPacer(start, 250) // one every 4 ms
	var wg sync.WaitGroup
	seen := make([]atomic.Int32, 1000)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 250; k++ {
				i, at := p.Next()
				if want := start.Add(time.Duration(i) * 4 * time.Millisecond); !at.Equal(want) {
					t.Errorf("ticket %d due %v, want %v", i, at, want)
				}
				seen[i].Add(1)
			}
		}()
	}
	wg.Wait()
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("ticket %d handed out %d times", i, seen[i].Load())
		}
	}
}

// fakeWorker answers instantly, except that call number stallAt takes stall.
type fakeWorker struct {
	calls   int
	stallAt int
	stall   time.Duration
}

func (f *fakeWorker) Do(ctx context.Context, out []Outcome) {
	f.calls++
	if f.calls == f.stallAt {
		time.Sleep(f.stall)
	}
	for i := range out {
		out[i] = Outcome{Status: 200, End: time.Now()}
	}
}
func (f *fakeWorker) Close() error { return nil }

func TestOpenLoopCount(t *testing.T) {
	// At 200/s for 500 ms the schedule has tickets 0..100 due by the end;
	// an instant worker sends those due and never more. (A machine that
	// stalls the test past the end can only make it fewer: hence the
	// generous floor.)
	r, err := Run(context.Background(), Config{
		Workers: 2, Duration: 500 * time.Millisecond, Rate: 200,
		NewWorker: func(int) (Worker, error) { return &fakeWorker{}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 80 || r.Requests > 101 {
		t.Errorf("%d requests at 200/s over 500ms, want 100 (at most 101)", r.Requests)
	}
}

func TestCoordinatedOmission(t *testing.T) {
	// One connection at 100/s; its 5th request stalls 300 ms. The ~30
	// requests due during the stall wait for it, and their latency, counted
	// from when each was due, shows it: a closed-loop tool would record one
	// slow request.
	r, err := Run(context.Background(), Config{
		Workers: 1, Duration: time.Second, Rate: 100,
		NewWorker: func(int) (Worker, error) { return &fakeWorker{stallAt: 5, stall: 300 * time.Millisecond}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	var slow uint64
	for _, b := range r.Latency.Buckets() {
		if b.Lo >= 100*time.Millisecond {
			slow += b.Count
		}
	}
	if slow < 15 {
		t.Errorf("%d requests saw >= 100 ms; want the ~20 due during the first 200 ms of the stall", slow)
	}
	if r.Latency.Max() < 300*time.Millisecond {
		t.Errorf("max latency %v, want >= the 300 ms stall", r.Latency.Max())
	}
}

func TestBounded(t *testing.T) {
	if _, err := Run(context.Background(), Config{NewWorker: func(int) (Worker, error) { return &fakeWorker{}, nil }}); err == nil {
		t.Error("a run without a duration was accepted")
	}
	r, err := Run(context.Background(), Config{Workers: 3, Duration: 5 * time.Second, Requests: 1000,
		NewWorker: func(int) (Worker, error) { return &fakeWorker{}, nil }})
	if err != nil || r.Requests != 1000 {
		t.Errorf("-n 1000: %d requests, %v", r.Requests, err)
	}
}

// startServer runs dally's server on a loopback port.
func startServer(t *testing.T, s *server.Server) string {
	t.Helper()
	if s.Handler == nil {
		s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "Hello, World!")
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// settle waits until the server has no open connection, so its counters
// are final.
func settle(t *testing.T, s *server.Server) server.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if st.Open == 0 || time.Now().After(deadline) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCountsMatchServer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport string
		keepAlive bool
		http10    bool
		pipeline  int
		maxReq    int
	}{
		{"raw-keepalive", "raw", true, false, 1, -1},
		{"raw-max-requests-7", "raw", true, false, 1, 7},
		{"raw-close", "raw", false, false, 1, -1},
		{"raw-http1.0-keepalive", "raw", true, true, 1, 10},
		{"raw-pipeline-8-max-20", "raw", true, false, 8, 20},
		{"nethttp-keepalive", "nethttp", true, false, 1, 9},
		{"nethttp-close", "nethttp", false, false, 1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &server.Server{MaxRequestsPerConn: tc.maxReq}
			addr := startServer(t, srv)
			d := &CountingDialer{}
			req := &Request{Host: addr, KeepAlive: tc.keepAlive, HTTP10: tc.http10}
			var newWorker func(int) (Worker, error)
			closeIdle := func() {}
			switch tc.transport {
			case "raw":
				newWorker = func(int) (Worker, error) { return NewRawWorker(addr, req, d.DialContext), nil }
			case "nethttp":
				tr := &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 4, MaxIdleConnsPerHost: 4, DisableKeepAlives: !tc.keepAlive}
				closeIdle = tr.CloseIdleConnections
				hreq, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
				newWorker = func(int) (Worker, error) { return &RoundTripWorker{RT: tr, Req: hreq}, nil }
			}
			r, err := Run(context.Background(), Config{
				Workers: 4, Duration: 20 * time.Second, Requests: 400, Pipeline: tc.pipeline,
				Dialer: d, NewWorker: newWorker,
			})
			if err != nil {
				t.Fatal(err)
			}
			closeIdle() // net/http's pool outlives the workers
			st := settle(t, srv)
			if r.Requests != 400 || len(r.Errors) != 0 {
				t.Errorf("%d requests, errors %v; want 400 and none", r.Requests, r.Errors)
			}
			if r.Requests != st.Requests {
				t.Errorf("load counted %d requests, server %d", r.Requests, st.Requests)
			}
			if r.ConnsOpened != st.Accepted {
				t.Errorf("load opened %d connections, server accepted %d", r.ConnsOpened, st.Accepted)
			}
			want := int64(4)
			switch {
			case !tc.keepAlive:
				want = 400
			case tc.maxReq > 0:
				want = 400 / int64(tc.maxReq) // at least: each connection ends at maxReq
			}
			if r.ConnsOpened < want {
				t.Errorf("%d connections opened, want at least %d", r.ConnsOpened, want)
			}
			if got := float64(r.Requests) / float64(r.ConnsOpened); r.Reuse != got {
				t.Errorf("reuse %v, want %v", r.Reuse, got)
			}
		})
	}
}

func TestRawWorkerFraming(t *testing.T) {
	// Bodies framed every way a server may frame them, over net/http's
	// server, which sends chunked when the handler flushes and closes
	// after an HTTP/1.0 response without keep-alive.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			for i := 0; i < 5; i++ {
				fmt.Fprintf(w, "%s", strings.Repeat("x", 3000))
				w.(http.Flusher).Flush()
			}
		case "/big":
			io.WriteString(w, strings.Repeat("y", 100000))
		case "/500":
			http.Error(w, "boom", 500)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	defer hs.Close()
	addr := ln.Addr().String()
	for _, tc := range []struct {
		target string
		depth  int
		status int
		conns  int64
	}{
		{"/chunked", 3, 200, 1},
		{"/big", 2, 200, 1},
		{"/500", 1, 500, 1},
		{"/close", 1, 200, 3},
	} {
		t.Run(tc.target, func(t *testing.T) {
			d := &CountingDialer{}
			w := NewRawWorker(addr, &Request{Host: addr, Target: tc.target, KeepAlive: true}, d.DialContext)
			w.Timeout = 5 * time.Second
			defer w.Close()
			out := make([]Outcome, tc.depth)
			for round := 0; round < 3; round++ {
				w.Do(context.Background(), out)
				for i, o := range out {
					if o.Err != nil || o.Status != tc.status {
						t.Fatalf("round %d response %d: status %d, err %v", round, i, o.Status, o.Err)
					}
				}
			}
			if d.Opened() != tc.conns {
				t.Errorf("%d connections for 3 rounds, want %d", d.Opened(), tc.conns)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	// A port nobody listens on: dial errors.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	d := &CountingDialer{}
	r, err := Run(context.Background(), Config{Workers: 1, Duration: 2 * time.Second, Requests: 3, Dialer: d,
		NewWorker: func(int) (Worker, error) {
			return NewRawWorker(addr, &Request{Host: addr, KeepAlive: true}, d.DialContext), nil
		}})
	if err != nil || r.Errors["dial"] != 3 || r.Requests != 0 {
		t.Errorf("refused: errors %v requests %d err %v; want dial 3", r.Errors, r.Requests, err)
	}
	// Without -n, refused dials back off instead of spinning: 10+20+40+...
	// ms, so a 300 ms run makes a handful of attempts, not thousands.
	r, _ = Run(context.Background(), Config{Workers: 1, Duration: 300 * time.Millisecond, Dialer: d,
		NewWorker: func(int) (Worker, error) {
			return NewRawWorker(addr, &Request{Host: addr, KeepAlive: true}, d.DialContext), nil
		}})
	if n := r.Errors["dial"]; n < 2 || n > 8 {
		t.Errorf("refused for 300 ms: %d dial errors, want a few (backoff)", n)
	}
	// A server that reads the request and closes: EOF.
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 512))
			c.Close()
		}
	}()
	addr = ln.Addr().String()
	r, _ = Run(context.Background(), Config{Workers: 1, Duration: 2 * time.Second, Requests: 3, Dialer: d,
		NewWorker: func(int) (Worker, error) {
			return NewRawWorker(addr, &Request{Host: addr, KeepAlive: true}, d.DialContext), nil
		}})
	if r.Errors["eof"] != 3 {
		t.Errorf("close after read: errors %v; want eof 3", r.Errors)
	}
}
