package client

import (
	"io"
	"net/http"
	"sync"
	"testing"
)

// Only a host's warmIdle most recently used idle connections keep their
// read buffer; the others gave it back, so many idle connections hold no
// buffer memory, while the next to be reused takes none from the pool.
func TestIdleBuffersOnlyWarm(t *testing.T) {
	const n = 3 * warmIdle
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	m := keepAliveMock(t, func(_ *mock, _, _ int, r *http.Request) string {
		if r.URL.Path == "/hold" {
			arrived.Done()
			<-release
		}
		return ok200("ok")
	})
	tr := &Transport{MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	var done sync.WaitGroup
	for i := 0; i < n; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			req, _ := http.NewRequest("GET", m.url("/hold"), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
		}()
	}
	arrived.Wait() // n connections, each with a request in flight
	close(release)
	done.Wait()
	buffered := func() (idle, withBuf int, top bool) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, p := range tr.pools {
			p.mu.Lock()
			for i, c := range p.idle {
				if c.buf != nil {
					withBuf++
					top = top || i == len(p.idle)-1
				}
			}
			idle += len(p.idle)
			p.mu.Unlock()
		}
		return
	}
	if idle, withBuf, top := buffered(); idle != n || withBuf != warmIdle || !top {
		t.Fatalf("%d idle connections, %d with a buffer (the most recent: %v), want %d, %d, true", idle, withBuf, top, n, warmIdle)
	}
	// Reuse takes the warm ones first; the rest still hold none.
	for i := 0; i < 5; i++ {
		if body, _ := get(t, &http.Client{Transport: tr}, m.url("/")); body != "ok" {
			t.Fatalf("body %q", body)
		}
	}
	if idle, withBuf, _ := buffered(); idle != n || withBuf != warmIdle {
		t.Fatalf("after reuse: %d idle, %d with a buffer, want %d, %d", idle, withBuf, n, warmIdle)
	}
}
