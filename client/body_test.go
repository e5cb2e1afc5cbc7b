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

// ReleaseResponse leaves alone a response whose body is not done (it is
// still read whole afterwards) and one that is not the transport's; a
// released response's block serves the next response correctly.
func TestReleaseResponse(t *testing.T) {
	m := keepAliveMock(t, func(_ *mock, _, _ int, r *http.Request) string {
		if r.URL.Path == "/empty" {
			return "HTTP/1.1 204 No Content\r\n\r\n"
		}
		return ok200("body of " + r.URL.Path)
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	tr.ReleaseResponse(&http.Response{Body: http.NoBody}) // not ours: nothing happens
	rt := func(path string) *http.Response {
		req, _ := http.NewRequest("GET", m.url(path), nil)
		resp, err := tr.RoundTripHeader(req, http.Header{})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := 0; i < 20; i++ {
		resp := rt("/a")
		tr.ReleaseResponse(resp) // not read: left alone
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "body of /a" {
			t.Fatalf("after an early release: body %q, %v", b, err)
		}
		resp.Body.Close()
		tr.ReleaseResponse(resp)
		empty := rt("/empty")
		if empty.StatusCode != 204 || empty.ContentLength != 0 {
			t.Fatalf("204: %d, length %d", empty.StatusCode, empty.ContentLength)
		}
		tr.ReleaseResponse(empty)
		resp = rt("/b")
		if b, _ := io.ReadAll(resp.Body); string(b) != "body of /b" || resp.StatusCode != 200 || resp.Request.URL.Path != "/b" {
			t.Fatalf("after releases: %d %q for %s", resp.StatusCode, b, resp.Request.URL.Path)
		}
		resp.Body.Close()
		tr.ReleaseResponse(resp)
	}
}

// failWriter takes up to n bytes, then fails.
type failWriter struct {
	got []byte
	n   int
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(w.got)+len(p) > w.n {
		k := w.n - len(w.got)
		w.got = append(w.got, p[:k]...)
		return k, io.ErrShortWrite
	}
	w.got = append(w.got, p...)
	return len(p), nil
}

// WriteBuffered writes what of a sized body is already buffered and says
// whether that was all of it; Read gives the rest. A chunked body is left
// to Read whole, a bodiless response is all written at once, and a
// writer's error leaves the unwritten bytes to Read.
func TestWriteBuffered(t *testing.T) {
	m := keepAliveMock(t, func(m *mock, _, _ int, r *http.Request) string {
		switch r.URL.Path {
		case "/split":
			return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello" // the rest below
		case "/chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
		case "/empty":
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
		}
		return ok200("hello world")
	})
	type bw interface {
		WriteBuffered(io.Writer) (int, bool, error)
	}
	tr := &Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	rt := func(path string) *http.Response {
		req, _ := http.NewRequest("GET", m.url(path), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	check := func(path string, w io.Writer, wantN int, wantAll bool, wantErr error, rest string) {
		t.Helper()
		resp := rt(path)
		defer resp.Body.Close()
		n, all, err := resp.Body.(bw).WriteBuffered(w)
		if n != wantN || all != wantAll || err != wantErr {
			t.Fatalf("%s: WriteBuffered = %d, %v, %v; want %d, %v, %v", path, n, all, err, wantN, wantAll, wantErr)
		}
		if b, err := io.ReadAll(resp.Body); string(b) != rest || err != nil {
			t.Fatalf("%s: then read %q, %v; want %q", path, b, err, rest)
		}
	}
	var sb strings.Builder
	check("/", &sb, 11, true, nil, "")
	if sb.String() != "hello world" {
		t.Fatalf("wrote %q", sb.String())
	}
	check("/empty", &sb, 0, true, nil, "")
	check("/chunked", &sb, 0, false, nil, "hello")
	fw := &failWriter{n: 4}
	check("/", fw, 4, false, io.ErrShortWrite, "o world")
	if string(fw.got) != "hell" {
		t.Fatalf("wrote %q", fw.got)
	}
	// The rest of /split comes later: WriteBuffered writes the first part.
	req, _ := http.NewRequest("GET", m.url("/split"), nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	sb.Reset()
	n, all, err := resp.Body.(bw).WriteBuffered(&sb)
	if n != 5 || all || err != nil || sb.String() != "hello" {
		t.Fatalf("split: %d, %v, %v, %q", n, all, err, sb.String())
	}
	resp.Body.Close() // the rest never comes: the connection goes
	if st := tr.Stats(); st.Closed["body_unread"] != 1 {
		t.Fatalf("stats %+v: want the split response's connection closed unread", st)
	}
}
