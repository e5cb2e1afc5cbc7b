package client

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A server that ignores Expect: 100-continue gets the body after
// ExpectContinueTimeout; request trailers follow a chunked body.
func TestExpectTimeoutAndRequestTrailers(t *testing.T) {
	var gotBody, gotTrailer atomic.Value
	m := startMock(t, func(m *mock, ci int, c net.Conn, br *bufio.Reader) {
		for {
			r, body, err := m.readReq(br)
			if err != nil {
				return
			}
			gotBody.Store(string(body))
			gotTrailer.Store(r.Trailer.Get("X-Check"))
			io.WriteString(c, ok200("done"))
		}
	})
	tr := &Transport{ExpectContinueTimeout: 50 * time.Millisecond}
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest("PUT", m.url("/e"), strings.NewReader("waited"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	if got, err := roundTripAll(c, req); err != nil || got.body != "done" {
		t.Fatalf("expect: %v %q", err, got.body)
	}
	if d := time.Since(start); d < 50*time.Millisecond || gotBody.Load() != "waited" {
		t.Fatalf("body %q after %v", gotBody.Load(), d)
	}
	pr, pw := io.Pipe()
	req, _ = http.NewRequest("POST", m.url("/t"), pr)
	req.Trailer = http.Header{"X-Check": nil}
	go func() {
		pw.Write([]byte("chunk"))
		req.Trailer.Set("X-Check", "sum-42") // set once the body is written, as net/http allows
		pw.Close()
	}()
	if got, err := roundTripAll(c, req); err != nil || got.body != "done" {
		t.Fatalf("trailers: %v %q", err, got.body)
	}
	if gotBody.Load() != "chunk" || gotTrailer.Load() != "sum-42" {
		t.Fatalf("server got body %q trailer %q", gotBody.Load(), gotTrailer.Load())
	}
	if st := tr.Stats(); st.ConnsOpened != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Closing a body before its end keeps the connection only when the rest
// is already buffered.
func TestBodyCloseEarly(t *testing.T) {
	big := strings.Repeat("z", 1<<20)
	m := keepAliveMock(t, func(m *mock, conn, req int, r *http.Request) string {
		if r.URL.Path == "/big" {
			return ok200(big)
		}
		return ok200("small body")
	})
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	for _, p := range []string{"/small", "/small", "/big", "/small"} {
		resp, err := c.Get(m.url(p))
		if err != nil {
			t.Fatal(err)
		}
		var b [2]byte
		io.ReadFull(resp.Body, b[:])
		resp.Body.Close()
		if _, err := resp.Body.Read(b[:]); err == nil {
			t.Fatal("read after Close succeeded")
		}
	}
	st := tr.Stats()
	if st.ConnsOpened != 2 || st.Closed["body_unread"] != 1 || st.Reused != 2 {
		t.Fatalf("stats %+v", st)
	}
}
