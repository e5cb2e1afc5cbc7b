package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ResponseHeaderTimeout bounds the head only. Its deadline stays on the
// socket after the head (at most one change per request, not two), so every read
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

// deadlineConn counts the read deadlines set on a connection (cleared
// ones apart), keeping the descriptor reachable for the raw reads.
type deadlineConn struct {
	*net.TCPConn
	set *atomic.Int64
}

func (c deadlineConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		c.set.Add(1)
	}
	return c.TCPConn.SetReadDeadline(t)
}

// A head's deadline that already ends late enough is kept: keep-alive
// requests in quick succession change it once per headSlack, not once
// per request, and a hanging head still times out no sooner than the
// timeout and no later than the slack after it.
func TestHeadDeadlineKeptWhileLateEnough(t *testing.T) {
	const timeout = 800 * time.Millisecond // slack: 50 ms
	m := keepAliveMock(t, func(_ *mock, _, _ int, r *http.Request) string {
		if r.URL.Path == "/hang" {
			time.Sleep(3 * timeout)
		}
		return ok200("ok")
	})
	var set atomic.Int64
	tr := &Transport{ResponseHeaderTimeout: timeout, MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return deadlineConn{nc.(*net.TCPConn), &set}, nil
		}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	const n = 200
	start := time.Now()
	for i := 0; i < n; i++ {
		if body, _ := get(t, c, m.url("/")); body != "ok" {
			t.Fatalf("body %q", body)
		}
	}
	// One change per slack (50 ms) the requests took, and the first.
	if max := int64(time.Since(start)/headSlack(timeout)) + 1; set.Load() > max {
		t.Fatalf("%d read deadlines set for %d requests in %v, want at most %d", set.Load(), n, time.Since(start), max)
	}
	start = time.Now()
	_, err := c.Get(m.url("/hang"))
	if !errors.Is(err, ErrResponseHeaderTimeout) {
		t.Fatalf("hang: %v, want ErrResponseHeaderTimeout", err)
	}
	if d := time.Since(start); d < timeout || d > timeout+headSlack(timeout)+timeout/2 {
		t.Fatalf("hang: timed out after %v, want %v to %v", d, timeout, timeout+headSlack(timeout))
	}
}
