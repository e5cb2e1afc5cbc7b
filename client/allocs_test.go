package client

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
)

// fixedServer answers every request head it reads with the same response,
// allocating nothing per request, so AllocsPerRun counts the client only.
func fixedServer(t testing.TB, resp string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := []byte(resp)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						copy(buf, buf[i+4:n])
						n -= i + 4
						if _, err := c.Write(out); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

var sink []byte

func TestAllocsKeepAliveGET(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	url := fixedServer(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 03 Dec 2026 16:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello")
	tr := &Transport{}
	req, _ := http.NewRequest("GET", url, nil)
	buf := make([]byte, 512)
	do := func() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.ReadFull(resp.Body, buf[:5])
		sink = buf[:n]
		resp.Body.Close()
	}
	do()
	allocs := testing.AllocsPerRun(200, do)
	// Per round trip: the body (request state and the response, in one
	// block), the header map (two blocks) and its values' slice (their
	// strings are the host's last ones when equal: valueCache), and the
	// status string when it is not a common one; the cancel callback is
	// the connection's, bound once (was 7 with one per request and the
	// response apart, 5 with a string for the values). net/http's
	// Transport makes about 30.
	const budget = 4
	t.Logf("%.1f allocations per keep-alive GET", allocs)
	if allocs > budget {
		t.Fatalf("%.1f allocations per keep-alive GET, budget %d", allocs, budget)
	}
	if st := tr.Stats(); st.ConnsOpened != 1 {
		t.Fatalf("stats %+v", st)
	}

	// A relayed round trip (RoundTripHeader into a map the caller clears
	// and reuses, then ReleaseResponse once the body is done) allocates
	// nothing: the response's block is recycled, the values' slice is the
	// connection's last one. Without ReleaseResponse the block is one
	// allocation.
	h := http.Header{}
	relay := func(release bool) {
		clear(h)
		resp, err := tr.RoundTripHeader(req, h)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.ReadFull(resp.Body, buf[:5])
		sink = buf[:n]
		resp.Body.Close()
		if string(sink) != "hello" || h["Content-Type"][0] != "text/plain" {
			t.Fatalf("body %q, header %v", sink, h)
		}
		if release {
			tr.ReleaseResponse(resp)
		}
	}
	for _, release := range []bool{true, false} {
		relay(release)
		allocs := testing.AllocsPerRun(200, func() { relay(release) })
		t.Logf("release %v: %.1f allocations per relayed GET", release, allocs)
		if budget := map[bool]float64{true: 0, false: 1}[release]; allocs > budget {
			t.Fatalf("release %v: %.1f allocations per relayed GET, budget %v", release, allocs, budget)
		}
	}
}
