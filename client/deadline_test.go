package client

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ResponseHeaderTimeout bounds the head only. Its deadline stays on the
// socket after the head (one change per request, not two), so every read
// after it clears it first: a body slower than the timeout is read whole,
// an idle connection older than the timeout passes its FIN peek and is
// reused (a POST always peeks), and the next head is bounded afresh.
func TestHeadDeadlineEndsWithTheHead(t *testing.T) {
	const timeout = 100 * time.Millisecond
	m := startMock(t, func(m *mock, _ int, c net.Conn, br *bufio.Reader) {
		for {
			r, _, err := m.readReq(br)
			if err != nil {
				return
			}
			switch r.URL.Path {
			case "/slowbody":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
				time.Sleep(3 * timeout)
				io.WriteString(c, "world")
			case "/slowchunks":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
				time.Sleep(3 * timeout)
				io.WriteString(c, "5\r\nworld\r\n0\r\n\r\n")
			case "/hang":
				time.Sleep(4 * timeout)
				io.WriteString(c, ok200("late"))
			default:
				io.WriteString(c, ok200("ok"))
			}
		}
	})
	tr := &Transport{ResponseHeaderTimeout: timeout, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, path := range []string{"/slowbody", "/slowchunks"} {
		if body, _ := get(t, c, m.url(path)); body != "helloworld" {
			t.Fatalf("%s: body %q", path, body)
		}
	}
	if body, _ := get(t, c, m.url("/")); body != "ok" { // read from the buffer: the deadline stays
		t.Fatalf("body %q", body)
	}
	time.Sleep(2 * timeout) // idle past the deadline the last head left
	resp, err := c.Post(m.url("/post"), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("POST after idling past the deadline: %v", err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if st := tr.Stats(); st.ConnsOpened != 1 || st.Closed["fin_seen"] != 0 {
		t.Fatalf("stats %+v: want one connection, no FIN seen", st)
	}
	start := time.Now()
	_, err = c.Get(m.url("/hang"))
	if !errors.Is(err, ErrResponseHeaderTimeout) {
		t.Fatalf("hang: %v, want ErrResponseHeaderTimeout", err)
	}
	if d := time.Since(start); d < timeout || d > 3*timeout {
		t.Fatalf("hang: timed out after %v, want about %v", d, timeout)
	}
}
