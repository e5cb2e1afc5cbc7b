package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fire runs n GETs of /i concurrently and checks each body names its own
// path: responses are matched to requests in order.
// POSTs may fail (a close can meet one: it is never retried); fire
// returns how many succeeded.
func fire(t *testing.T, c *http.Client, url func(string) string, n int, post func(i int) bool) int64 {
	t.Helper()
	var posted atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := "/" + itoa(i)
			var resp *http.Response
			var err error
			if post != nil && post(i) {
				resp, err = c.Post(url(p), "text/plain", strings.NewReader("b"))
				if err != nil {
					return
				}
				posted.Add(1)
			} else {
				resp, err = c.Get(url(p))
			}
			if err != nil {
				t.Errorf("%s: %v", p, err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "hello "+p {
				t.Errorf("%s: body %q err %v", p, b, err)
			}
		}()
	}
	wg.Wait()
	return posted.Load()
}

func TestPipelineDally(t *testing.T) {
	addr, srv := startDally(t, echoHandler(), nil)
	tr := &Transport{MaxConnsPerHost: 1, MaxPipelineDepth: 8}
	c := &http.Client{Transport: tr}
	fire(t, c, func(p string) string { return "http://" + addr + p }, 200, nil)
	st := tr.Stats()
	if st.Pipelined == 0 || st.ConnsOpened != 1 || st.Retries != 0 {
		t.Fatalf("stats %+v", st)
	}
	if ss := srv.Stats(); ss.Accepted != 1 {
		t.Fatalf("server accepted %d", ss.Accepted)
	}
	t.Logf("pipelined %d of %d", st.Pipelined, st.Requests)
}

// pipelineMock answers each request with "hello <path>" and closes after
// perConn responses, whatever is still queued behind (the middle of a
// pipeline). It flags a POST that arrived pipelined behind another request
// or with one pipelined behind it.
func pipelineMock(t *testing.T, perConn int, badPost *atomic.Int64) *mock {
	return startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		behind := false // the last request had bytes of the next one behind it
		for i := 0; i < perConn; i++ {
			r, _, err := m.readReq(br)
			if err != nil {
				return
			}
			more := br.Buffered() > 0
			if r.Method == "POST" && (behind || more) {
				badPost.Add(1)
			}
			behind = more
			if _, err := io.WriteString(c, ok200("hello "+r.URL.Path)); err != nil {
				return
			}
		}
	})
}

func TestPipelineEarlyClose(t *testing.T) {
	var badPost atomic.Int64
	m := pipelineMock(t, 3, &badPost)
	tr := &Transport{MaxConnsPerHost: 2, MaxPipelineDepth: 6}
	c := &http.Client{Transport: tr}
	posted := fire(t, c, m.url, 300, func(i int) bool { return i%10 == 5 })
	st := tr.Stats()
	if n := m.posts.Load(); n != posted {
		t.Fatalf("server read %d POSTs, client got %d answers", n, posted)
	}
	if st.Pipelined == 0 || st.Retries == 0 {
		t.Fatalf("stats %+v", st)
	}
	if badPost.Load() != 0 {
		t.Fatalf("%d POSTs pipelined", badPost.Load())
	}
	if st.Open > 2 {
		t.Fatalf("open %d", st.Open)
	}
	t.Logf("stats %+v, server conns %d requests %d", st, m.conns.Load(), m.reqs.Load())
}

// A pipelined request whose context ends while it waits for its turn
// returns at once; the response before it is untouched and the request
// behind it still gets its answer (retried if the connection had to go).
func TestPipelineCancelWhileQueued(t *testing.T) {
	release := make(chan struct{})
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		for {
			r, _, err := m.readReq(br)
			if err != nil {
				return
			}
			if r.URL.Path == "/slow" {
				<-release
			}
			if _, err := io.WriteString(c, ok200("hello "+r.URL.Path)); err != nil {
				return
			}
		}
	})
	tr := &Transport{MaxConnsPerHost: 1, MaxPipelineDepth: 4}
	c := &http.Client{Transport: tr}
	get(t, c, m.url("/warm")) // prove the connection
	var wg sync.WaitGroup
	check := func(p string) {
		defer wg.Done()
		if got, _ := get(t, c, m.url(p)); got != "hello "+p {
			t.Errorf("%s: %q", p, got)
		}
	}
	wg.Add(1)
	go check("/slow")
	waitFor(t, "slow sent", func() bool { return tr.Stats().Requests == 2 })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", m.url("/cancel"), nil)
		_, err := c.Do(req)
		errc <- err
	}()
	waitFor(t, "cancel queued", func() bool { return tr.Stats().Pipelined == 1 })
	cancel()
	// It returns while the response before it is still held by the server.
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	wg.Add(1)
	go check("/after")
	waitFor(t, "after queued", func() bool { return tr.Stats().Requests == 4 })
	close(release)
	wg.Wait()
}
