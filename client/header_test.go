package client

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"
)

// RoundTripHeader puts the end-to-end fields into the caller's map, in
// order, repeated names joined (whether or not the map was empty), and
// leaves out the hop-by-hop ones: the fixed set and what Connection names
// (but never Content-Length).
func TestRoundTripHeaderFields(t *testing.T) {
	m := startMock(t, func(m *mock, _ int, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := m.readReq(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nconnection: X-Secret, keep-alive, Content-Length\r\n"+
				"X-Secret: s\r\nKeep-Alive: timeout=5\r\nset-cookie: b=2\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"+
				"Upgrade: foo\r\nx-odd-name: o\r\nContent-Length: 2\r\nSet-Cookie: c=3\r\n\r\nhi")
		}
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	want := http.Header{
		"Set-Cookie":     {"a=1", "b=2", "c=3"},
		"X-Odd-Name":     {"o"},
		"Content-Length": {"2"},
	}
	for _, pre := range []http.Header{{}, {"X-Mine": {"m"}}} {
		w := want.Clone()
		if pre["X-Mine"] != nil {
			w["X-Mine"] = []string{"m"}
		}
		req, _ := http.NewRequest("GET", m.url("/"), nil)
		resp, err := tr.RoundTripHeader(req, pre)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hi" {
			t.Fatalf("body %q", b)
		}
		if !reflect.DeepEqual(resp.Header, w) {
			t.Errorf("header %v, want %v", resp.Header, w)
		}
	}
	// RoundTrip keeps every field.
	req, _ := http.NewRequest("GET", m.url("/"), nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Connection", "Te", "Upgrade", "Set-Cookie"} {
		if resp.Header[k] == nil {
			t.Errorf("RoundTrip lost %s: %v", k, resp.Header)
		}
	}
}
