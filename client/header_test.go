package client

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dallyhttp/dally/h1"
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

// Names outside fieldClass's list are checked (a bad one is refused before
// any byte is sent); those on it are tokens.
func TestRequestFieldNames(t *testing.T) {
	for _, k := range []string{"Via", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "Forwarded",
		"User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Cookie", "Authorization",
		"Content-Type", "Referer", "Origin", "Cache-Control", "If-None-Match", "If-Modified-Since",
		"Te", "X-Request-Id", "Pragma", "Range", "Upgrade", "Expect", "Idempotency-Key", "Host", "Trailer"} {
		if fieldClass(k) == fieldUnknown || !h1.ValidFieldName(k) {
			t.Errorf("%q: class %d, token %v", k, fieldClass(k), h1.ValidFieldName(k))
		}
	}
	m := startMock(t, func(m *mock, _ int, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := m.readReq(br); err != nil {
				return
			}
			io.WriteString(c, ok200("x"))
		}
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	for _, bad := range []string{"Bad Name", "X\r\nY", "", "Via:"} {
		req, _ := http.NewRequest("GET", m.url("/"), nil)
		req.Header[bad] = []string{"v"}
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Errorf("name %q sent", bad)
		}
	}
	req, _ := http.NewRequest("GET", m.url("/"), nil)
	req.Header["X-Custom_Name!"] = []string{"v"}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := m.reqs.Load(); n != 1 {
		t.Fatalf("origin read %d requests, want only the good one", n)
	}
}

// RoundTripRelay writes its extra fields after the map's, checked like
// them; names the transport writes itself are skipped.
func TestRoundTripRelayExtra(t *testing.T) {
	heads := make(chan *http.Request, 4)
	m := startMock(t, func(m *mock, _ int, c net.Conn, br *bufio.Reader) {
		for {
			r, _, err := m.readReq(br)
			if err != nil {
				return
			}
			heads <- r
			io.WriteString(c, ok200("x"))
		}
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", m.url("/"), nil)
	req.Header["X-In-Map"] = []string{"1"}
	extra := []Field{{"Via", "1.1 p"}, {"X-Forwarded-For", "10.0.0.1"}, {"Host", "evil"}, {"Connection", "close"}, {"X-Custom", "c"}}
	resp, err := tr.RoundTripRelay(req, extra, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-heads
	for k, v := range map[string]string{"X-In-Map": "1", "Via": "1.1 p", "X-Forwarded-For": "10.0.0.1", "X-Custom": "c"} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if r.Host == "evil" || r.Close {
		t.Errorf("an extra field overrode the transport's own: Host %q, close %v", r.Host, r.Close)
	}
	for _, bad := range [][]Field{{{"X-Bad", "a\r\nb"}}, {{"Bad Name", "v"}}} {
		req, _ := http.NewRequest("GET", m.url("/"), nil)
		if resp, err := tr.RoundTripRelay(req, bad, nil); err == nil {
			resp.Body.Close()
			t.Errorf("extra %q sent", bad)
		}
	}
	if n := m.reqs.Load(); n != 1 {
		t.Fatalf("origin read %d requests, want 1", n)
	}
}

// Response values equal to the host's last ones at the same place in the
// head are shared strings, not copies, and a relayed response
// (RoundTripHeader) takes its connection's last slice of values again when
// every value is the same: each response still gets exactly its own
// fields, whether values change, fields move, are empty, are more than
// the cache holds, or come over another connection; a value changed in
// place by the caller is not handed out again.
func TestResponseValuesAcrossResponses(t *testing.T) {
	heads := []string{
		"A: x\r\nB: y\r\nContent-Length: 2\r\n",
		"A: x\r\nB: z\r\nContent-Length: 2\r\n",
		"B: y\r\nA: x\r\nContent-Length: 2\r\n",
		"A: \r\nB: y\r\nContent-Length: 2\r\n",
		"A: x\r\nB: y\r\nC: 1\r\nD: 2\r\nE: 3\r\nF: 4\r\nG: 5\r\nH: 6\r\nI: 7\r\nJ: 8\r\nContent-Length: 2\r\n",
		"A: x\r\nB: y\r\nC: 1\r\nD: 2\r\nE: 3\r\nF: 4\r\nG: 5\r\nH: 6\r\nI: 9\r\nJ: 10\r\nContent-Length: 2\r\n",
		"A: x\r\nA: x\r\nContent-Length: 2\r\n",
		"A: x\r\nA: x\r\nContent-Length: 2\r\n",
	}
	m := keepAliveMock(t, func(_ *mock, _, _ int, r *http.Request) string {
		i, _ := strconv.Atoi(r.URL.Path[1:])
		return "HTTP/1.1 200 OK\r\n" + heads[i] + "\r\nhi"
	})
	tr := &Transport{MaxConnsPerHost: 2}
	defer tr.CloseIdleConnections()
	parse := func(head string) http.Header {
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(head + "\r\n"))).ReadMIMEHeader()
		if err != nil {
			t.Fatal(err)
		}
		return http.Header(h)
	}
	do := func(relay bool, i int, close bool) http.Header {
		req, _ := http.NewRequest("GET", m.url("/"+strconv.Itoa(i)), nil)
		req.Close = close
		var resp *http.Response
		var err error
		if relay {
			resp, err = tr.RoundTripHeader(req, http.Header{})
		} else {
			resp, err = tr.RoundTrip(req)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.Header
	}
	for _, relay := range []bool{false, true} {
		var got, want []http.Header
		for round := 0; round < 2; round++ {
			for i, head := range heads {
				got = append(got, do(relay, i, round == 1 && i%2 == 1)) // some on new connections
				want = append(want, parse(head))
			}
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("relay %v, response %d: header %v, want %v", relay, i, got[i], want[i])
			}
		}
		h := do(relay, 0, false)
		h["A"][0] = "changed"
		if h := do(relay, 0, false); !reflect.DeepEqual(h, want[0]) {
			t.Errorf("relay %v, after a value changed in place: header %v, want %v", relay, h, want[0])
		}
	}
}

// A request head is made in the connection's read buffer when it is
// written and answered in one step (writeWait): a head larger than that
// buffer, and the answer read into it right after, both arrive whole,
// request after request on the same connection.
func TestHeadMadeInReadBuffer(t *testing.T) {
	m := keepAliveMock(t, func(_ *mock, _, _ int, r *http.Request) string {
		v := r.Header.Get("X-Big")
		return ok200(strconv.Itoa(len(v)) + ":" + v[:min(len(v), 8)] + v[max(0, len(v)-8):])
	})
	tr := &Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	for _, n := range []int{10, 4000, 9000, 100, 20000, 1} {
		v := strings.Repeat("ab", n/2) + strings.Repeat("c", n%2)
		req, _ := http.NewRequest("GET", m.url("/"), nil)
		req.Header.Set("X-Big", v)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := strconv.Itoa(n) + ":" + v[:min(n, 8)] + v[max(0, n-8):]; string(b) != want {
			t.Fatalf("%d bytes: got %q, want %q", n, b, want)
		}
	}
	if st := tr.Stats(); st.ConnsOpened != 1 {
		t.Fatalf("stats %+v: want one connection", st)
	}
}

// makeHeader classes a common name (commonKey) as hop-by-hop without
// h1.IsHopByHop when Connection names no other field: the two must agree.
func TestCommonKeyHopByHop(t *testing.T) {
	for _, name := range []string{"Content-Length", "Content-Type", "Date", "Server", "Connection", "Keep-Alive",
		"Transfer-Encoding", "Cache-Control", "Etag", "ETag", "Last-Modified", "Location", "Set-Cookie", "Vary",
		"Expires", "Accept-Ranges", "Content-Encoding", "Age", "Trailer", "X-Content-Type-Options",
		"Strict-Transport-Security"} {
		for _, n := range []string{name, strings.ToLower(name)} {
			k, ok := commonKey([]byte(n))
			if !ok || !strings.EqualFold(k, n) {
				t.Fatalf("commonKey(%q) = %q, %v", n, k, ok)
			}
			if hop := commonHopByHop(k); hop != h1.IsHopByHop([]byte(n)) {
				t.Errorf("%q: hop-by-hop %v, h1.IsHopByHop says %v", n, hop, !hop)
			}
		}
	}
}
