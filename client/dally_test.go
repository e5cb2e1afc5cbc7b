package client

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
			w.Write(b)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for i := 0; i < 5; i++ {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "done")
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		case "/slow":
			time.Sleep(100 * time.Millisecond)
			io.WriteString(w, "slow")
		default:
			io.WriteString(w, "hello "+r.URL.Path)
		}
	})
}

func TestDallyReuseAndBodies(t *testing.T) {
	addr, srv := startDally(t, echoHandler(), nil)
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	base := "http://" + addr
	for i := 0; i < 20; i++ {
		if got, _ := get(t, c, base+"/a"); got != "hello /a" {
			t.Fatalf("body %q", got)
		}
	}
	// Known-length and unknown-length (chunked) request bodies.
	resp, err := c.Post(base+"/echo", "text/plain", strings.NewReader("known"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "known" || resp.Header.Get("X-TE") != "" {
		t.Fatalf("echo %q te %q", b, resp.Header.Get("X-TE"))
	}
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte("stream")); pw.Write([]byte("ed")); pw.Close() }()
	resp, err = c.Post(base+"/echo", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "streamed" || resp.Header.Get("X-TE") != "chunked" {
		t.Fatalf("chunked echo %q te %q", b, resp.Header.Get("X-TE"))
	}
	// Chunked response with a trailer.
	got, resp := get(t, c, base+"/chunked")
	if got != "part0;part1;part2;part3;part4;" || resp.Trailer.Get("X-Sum") != "done" {
		t.Fatalf("chunked %q trailer %v", got, resp.Trailer)
	}
	// A large body streams through.
	got, _ = get(t, c, base+"/big")
	if len(got) != 1<<20 {
		t.Fatalf("big: %d bytes", len(got))
	}
	// Expect: 100-continue.
	req, _ := http.NewRequest("PUT", base+"/echo", strings.NewReader("continued"))
	req.Header.Set("Expect", "100-continue")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "continued" {
		t.Fatalf("expect: %q", b)
	}
	st := tr.Stats()
	if st.ConnsOpened != 1 {
		t.Errorf("opened %d connections, want 1 (stats %+v)", st.ConnsOpened, st)
	}
	if ss := srv.Stats(); ss.Accepted != 1 {
		t.Errorf("server accepted %d", ss.Accepted)
	}
	if st.Reused != st.Requests-1 {
		t.Errorf("reused %d of %d", st.Reused, st.Requests)
	}
}

func TestDallyMaxConnsPerHost(t *testing.T) {
	addr, _ := startDally(t, echoHandler(), nil)
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	run := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, _ := get(t, c, "http://"+addr+"/slow"); got != "slow" {
					t.Errorf("got %q", got)
				}
			}()
		}
		wg.Wait()
	}
	run(8)
	if st := tr.Stats(); st.ConnsOpened != 2 {
		t.Fatalf("opened %d, want 2", st.ConnsOpened)
	}
	tr.SetMaxConnsPerHost(4)
	run(8)
	if st := tr.Stats(); st.ConnsOpened != 4 || st.Open != 4 {
		t.Fatalf("after SetMaxConnsPerHost(4): opened %d open %d, want 4", st.ConnsOpened, st.Open)
	}
	tr.CloseIdleConnections()
	if st := tr.Stats(); st.Open != 0 || st.Idle != 0 {
		t.Fatalf("after CloseIdleConnections: %+v", st)
	}
}

func TestDallyIdleTimeoutAdvertised(t *testing.T) {
	// dally advertises Keep-Alive: timeout=1 for a 1 s idle timeout; the
	// client must close first.
	addr, srv := startDally(t, echoHandler(), func(s *server.Server) {
		s.IdleTimeout = time.Second
		s.IdleTimeoutMin = time.Second
		s.MinIdleWindow = time.Second
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	_, resp := get(t, c, "http://"+addr+"/")
	if ka := resp.Header.Get("Keep-Alive"); !strings.Contains(ka, "timeout=1") {
		t.Fatalf("Keep-Alive %q", ka)
	}
	time.Sleep(900 * time.Millisecond)
	st := tr.Stats()
	if st.Closed["server_hint"] != 1 || st.Open != 0 {
		t.Fatalf("after 0.9 s: %+v", st)
	}
	if ss := srv.Stats(); ss.Closed["idle_timeout"] != 0 {
		t.Fatalf("server closed first: %+v", ss.Closed)
	}
}

func TestMaxIdleConnsPerHost(t *testing.T) {
	addr, _ := startDally(t, echoHandler(), nil)
	tr := &Transport{MaxConnsPerHost: 4, MaxIdleConnsPerHost: 1}
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, c, "http://"+addr+"/slow") }()
	}
	wg.Wait()
	if st := tr.Stats(); st.ConnsOpened != 4 || st.Idle != 1 || st.Closed["idle_limit"] != 3 {
		t.Fatalf("stats %+v", st)
	}
}
