//go:build linux

package client

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readSyscalls is the process's read system calls so far (/proc/self/io's
// syscr: read(2) and its kin, every thread).
func readSyscalls(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no syscr in /proc/self/io")
	return 0
}

// spin waits d without a timer: a timer's wake-up costs the runtime's
// poller a read of its eventfd, which the read count would include.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		runtime.Gosched()
	}
}

// pacedOrigin answers each request 2 ms after reading it, and reads each
// request 2 ms after its previous answer, when the next request is already
// there: one read(2) per request on its side, and an answer that cannot be
// there when the client has just written. split sends the head and the
// body in two writes, 1 ms apart.
func pacedOrigin(t *testing.T, split bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			spin(2 * time.Millisecond)
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if !bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) {
				t.Errorf("origin read %q: not one whole head", buf[:n])
				return
			}
			spin(2 * time.Millisecond)
			if split {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
				spin(time.Millisecond)
				io.WriteString(c, "hello")
			} else {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
			}
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// After writing a request whose answer cannot be there yet, the client
// waits for readability before it reads: one read(2) per response, not a
// read that says EAGAIN and then the read of the answer. The whole
// process is counted (the origin's one read per request too): at most
// 2.6 per request (measured 2.06-2.36), where a read before the wait
// makes it 3 (measured 3.12-3.24).
func TestHeadWaitReadsOnce(t *testing.T) {
	url := pacedOrigin(t, false)
	// No deadline (arming its timer may wake the poller through its
	// eventfd: a read) and no FIN peek (a recvfrom, not counted anyway).
	tr := &Transport{PeekSkipIdle: time.Hour}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if body, _ := get(t, c, url); body != "hello" {
		t.Fatalf("body %q", body)
	}
	base := readSyscalls(t)
	self := readSyscalls(t) - base // what reading the counter costs
	const n = 50
	start := readSyscalls(t)
	for i := 0; i < n; i++ {
		if body, _ := get(t, c, url); body != "hello" {
			t.Fatalf("body %q", body)
		}
	}
	reads := readSyscalls(t) - start - self
	per := float64(reads) / n
	t.Logf("%d read system calls for %d requests (%.2f per request, the origin's included)", reads, n, per)
	if per > 2.6 {
		t.Fatalf("%.2f read system calls per request, want at most 2.6 (1 client, 1 origin)", per)
	}
	if st := tr.Stats(); st.ConnsOpened != 1 {
		t.Fatalf("%d connections opened, want 1", st.ConnsOpened)
	}
}

// A head that arrives without its body (or in pieces) wakes the wait
// once; the rest is read the ordinary way, and the readiness left behind
// by the second piece (seen by the poller after the body was read) makes
// the next request's wait return early: its read says EAGAIN and it
// waits again. Every response must still come whole and in time.
func TestHeadWaitSplitResponses(t *testing.T) {
	url := pacedOrigin(t, true)
	tr := &Transport{ResponseHeaderTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for i := 0; i < 60; i++ {
		if body, _ := get(t, c, url); body != "hello" {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if st := tr.Stats(); st.ConnsOpened != 1 || st.Retries != 0 {
		t.Fatalf("stats %+v: want one connection, no retry", st)
	}
}
