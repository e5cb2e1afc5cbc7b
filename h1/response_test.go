package h1

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestParseResponseTable(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		method string
		want   int
		kind   BodyKind
		n      int64
	}{
		{name: "RFC9112-4/ok-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", kind: BodyLength, n: 5},
		{name: "RFC9112-4/no-reason", in: "HTTP/1.1 301\r\n\r\n", kind: BodyUntilClose, n: -1},
		{name: "RFC9112-4/empty-reason", in: "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", kind: BodyNone},
		{name: "RFC9112-4/obs-text-reason", in: "HTTP/1.1 500 Ori\xc3\xabnt\r\nContent-Length: 0\r\n\r\n", kind: BodyNone},
		{name: "RFC9112-4/two-digit-status", in: "HTTP/1.1 20 OK\r\n\r\n", want: 400},
		{name: "RFC9112-4/double-space", in: "HTTP/1.1  200 OK\r\n\r\n", want: 400},
		{name: "RFC9112-4/tab-after-version", in: "HTTP/1.1\t200 OK\r\n\r\n", want: 400},
		{name: "RFC9112-4/bad-version", in: "HTTP/01.1 200 OK\r\n\r\n", want: 400},
		{name: "RFC9112-2.3/http2-status", in: "HTTP/2.0 200 OK\r\n\r\n", want: 505},
		{name: "RFC9112-2.2/bare-lf", in: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", want: 400},
		{name: "RFC9112-2.2/bare-cr", in: "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", want: 400},
		{name: "RFC9112-6.3/head-no-body", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: "HEAD", kind: BodyNone},
		{name: "RFC9112-6.3/1xx-no-body", in: "HTTP/1.1 100 Continue\r\n\r\n", kind: BodyNone},
		{name: "RFC9112-6.3/204-no-body", in: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", kind: BodyNone},
		{name: "RFC9112-6.3/304-no-body", in: "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", kind: BodyNone},
		{name: "RFC9112-6.3/connect-2xx-tunnel", in: "HTTP/1.1 200 OK\r\n\r\n", method: "CONNECT", kind: BodyNone},
		{name: "RFC9112-6.3/chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", kind: BodyChunked, n: -1},
		{name: "RFC9112-6.3/chunked-not-final-close", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, deflate\r\n\r\n", kind: BodyUntilClose, n: -1},
		{name: "RFC9112-6.3/unknown-coding-close", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: pigeons\r\n\r\n", kind: BodyUntilClose, n: -1},
		{name: "RFC9112-6.3/te-and-cl", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", want: 400},
		{name: "RFC9112-6.1/te-in-http10", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", want: 400},
		{name: "RFC9112-6.3/close-delimited", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", kind: BodyUntilClose, n: -1},
		{name: "RFC9110-8.6/differing-cl", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", want: 400},
		{name: "RFC9112-2.2/leading-crlf", in: "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", kind: BodyNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			n, err := ParseResponse([]byte(tt.in), &r, nil)
			if got := status(err); got != tt.want {
				t.Fatalf("status %d (%v), want %d", got, err, tt.want)
			}
			if err != nil {
				return
			}
			if n != len(tt.in) {
				t.Errorf("n = %d, want %d", n, len(tt.in))
			}
			m := tt.method
			if m == "" {
				m = "GET"
			}
			if k, l := ResponseBody([]byte(m), &r); k != tt.kind || l != tt.n {
				t.Errorf("body %v %d, want %v %d", k, l, tt.kind, tt.n)
			}
		})
	}
}

func TestKeepAliveParams(t *testing.T) {
	tests := []struct {
		name, in     string
		timeout, max int
	}{
		{"RFC2068-19.7.1.1/both", "timeout=5, max=100", 5, 100},
		{"RFC2068-19.7.1.1/spaces", "  timeout = 5 ,max=7 ", 5, 7},
		{"RFC2068-19.7.1.1/other-params", "foo, timeout=30, bar=\"x\"", 30, -1},
		{"RFC2068-19.7.1.1/quoted", "timeout=\"12\"", 12, -1},
		{"RFC2068-19.7.1.1/garbage", "timeout=abc, max=-1", -1, -1},
		{"RFC2068-19.7.1.1/case", "Timeout=3, MAX=4", 3, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ParseKeepAlive([]byte(tt.in))
			if !p.Present || p.Timeout != tt.timeout || p.Max != tt.max {
				t.Errorf("got %+v", p)
			}
		})
	}
	var r Response
	if _, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=10\r\nContent-Length: 0\r\n\r\n"), &r, nil); err != nil {
		t.Fatal(err)
	}
	if r.KeepAlive != (KeepAliveParams{Present: true, Timeout: 5, Max: 10}) {
		t.Errorf("response keep-alive %+v", r.KeepAlive)
	}
}

func TestPersistent(t *testing.T) {
	// The table of the RFC 7230 §6 notes, read with RFC 9112 §9.3.
	tests := []struct {
		name         string
		major, minor int
		c            ConnTokens
		role         Role
		want         bool
	}{
		{"RFC9112-9.3/1.0-close", 1, 0, ConnTokens{Close: true}, RoleServer, false},
		{"RFC9112-9.3/1.0-keep-alive", 1, 0, ConnTokens{KeepAlive: true}, RoleServer, true},
		{"RFC9112-9.3/1.0-keep-alive-client", 1, 0, ConnTokens{KeepAlive: true}, RoleClient, true},
		{"RFC7230-6.3/1.0-keep-alive-proxy", 1, 0, ConnTokens{KeepAlive: true}, RoleProxy, false},
		{"RFC9112-9.3/1.0-none", 1, 0, ConnTokens{}, RoleServer, false},
		{"RFC9112-9.3/1.0-other", 1, 0, ConnTokens{Other: true}, RoleServer, false},
		{"RFC9112-9.3/1.1-close", 1, 1, ConnTokens{Close: true}, RoleServer, false},
		{"RFC9112-9.3/1.1-close-and-keep-alive", 1, 1, ConnTokens{Close: true, KeepAlive: true}, RoleServer, false},
		{"RFC9112-9.3/1.1-keep-alive", 1, 1, ConnTokens{KeepAlive: true}, RoleServer, true},
		{"RFC9112-9.3/1.1-none", 1, 1, ConnTokens{}, RoleServer, true},
		{"RFC9112-9.3/1.1-none-proxy", 1, 1, ConnTokens{}, RoleProxy, true},
		{"RFC9112-9.3/1.1-other", 1, 1, ConnTokens{Other: true}, RoleClient, true},
	}
	for _, tt := range tests {
		if got := Persistent(tt.major, tt.minor, tt.c, tt.role); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}

func TestHopByHop(t *testing.T) {
	var r Request
	in := "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, close\r\nConnection: x-bar\r\nX-Foo: 1\r\nX-Baz: 2\r\n\r\n"
	if _, err := ParseRequest([]byte(in), &r, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"Connection": true, "keep-alive": true, "Proxy-Connection": true, "TE": true,
		"Transfer-Encoding": true, "Upgrade": true, "x-foo": true, "X-BAR": true,
		"X-Baz": false, "Host": false, "Trailer": false, "Proxy-Authorization": false,
	} {
		if got := r.IsHopByHop([]byte(name)); got != want {
			t.Errorf("RFC9110-7.6.1/%s: got %v", name, got)
		}
	}
	var toks []string
	for tok := range ConnectionTokens(r.Fields) {
		toks = append(toks, string(tok))
	}
	if strings.Join(toks, ",") != "X-Foo,close,x-bar" {
		t.Errorf("tokens %q", toks)
	}
}

func TestResponseFraming(t *testing.T) {
	tests := []struct {
		name         string
		major, minor int
		method       string
		status       int
		cl           int64
		want         BodyKind
	}{
		{"RFC9112-6.1/unknown-length-11-chunked", 1, 1, "GET", 200, -1, BodyChunked},
		{"RFC9112-6.1/unknown-length-10-close", 1, 0, "GET", 200, -1, BodyUntilClose},
		{"RFC9112-6.2/known-length", 1, 0, "GET", 200, 10, BodyLength},
		{"RFC9112-6.3/head", 1, 1, "HEAD", 200, -1, BodyNone},
		{"RFC9112-6.3/1xx", 1, 1, "GET", 103, -1, BodyNone},
		{"RFC9112-6.3/204", 1, 1, "GET", 204, -1, BodyNone},
		{"RFC9112-6.3/304", 1, 1, "GET", 304, 5, BodyNone},
		{"RFC9112-6.3/connect", 1, 1, "CONNECT", 200, -1, BodyNone},
	}
	for _, tt := range tests {
		if got := ResponseFraming(tt.major, tt.minor, []byte(tt.method), tt.status, tt.cl); got != tt.want {
			t.Errorf("%s: got %v want %v", tt.name, got, tt.want)
		}
	}
}

func TestWriters(t *testing.T) {
	var b []byte
	b = AppendStatusLine(b, 1, 1, 404, "")
	b = AppendStatusLine(b, 1, 0, 200, "Fine")
	b = AppendRequestLine(b, "GET", "/x", 1, 1)
	b = AppendField(b, "Host", "a")
	b = AppendContentLength(b, 12)
	b = AppendChunked(b)
	b = AppendConnection(b, true)
	b = AppendConnection(b, false)
	b = AppendKeepAlive(b, 5, 100)
	b = AppendKeepAlive(b, 7, 0)
	b = AppendKeepAlive(b, 0, 3)
	b = AppendKeepAlive(b, 0, 0)
	b = AppendChunkHeader(b, 255)
	b = AppendLastChunk(b, []Field{{Name: []byte("X-T"), Value: []byte("1")}})
	want := "HTTP/1.1 404 Not Found\r\nHTTP/1.0 200 Fine\r\nGET /x HTTP/1.1\r\nHost: a\r\n" +
		"Content-Length: 12\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nConnection: keep-alive\r\n" +
		"Keep-Alive: timeout=5, max=100\r\nKeep-Alive: timeout=7\r\nKeep-Alive: max=3\r\nff\r\n0\r\nX-T: 1\r\n\r\n"
	if string(b) != want {
		t.Errorf("got\n%q\nwant\n%q", b, want)
	}
	if !ValidFieldName("X-Foo") || ValidFieldName("X Foo") || ValidFieldName("") {
		t.Error("ValidFieldName")
	}
	if !ValidFieldValue("a b") || ValidFieldValue("a\r\nb") || ValidFieldValue(" a") || ValidFieldValue("a\x00") {
		t.Error("ValidFieldValue")
	}
}

// decodeAll runs a ChunkedDecoder over in, feeding step bytes more each time.
func decodeAll(d *ChunkedDecoder, in []byte, step int) (body []byte, used int, err error) {
	buf := []byte{}
	fed := 0
	for {
		if fed < len(in) {
			k := min(step, len(in)-fed)
			buf = append(buf, in[fed:fed+k]...)
			fed += k
		}
		data, n, err := d.Next(buf)
		if n > len(buf) {
			panic("consumed more than input")
		}
		body = append(body, data...)
		buf = buf[n:]
		used += n
		switch {
		case err == io.EOF:
			return body, used, nil
		case err == ErrNeedMore:
			if fed == len(in) {
				return body, used, err
			}
		case err != nil:
			return body, used, err
		}
	}
}

func TestChunkedTable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
		body string
	}{
		{name: "RFC9112-7.1/simple", in: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", body: "hello world"},
		{name: "RFC9112-7.1/upper-hex", in: "A\r\n0123456789\r\n0\r\n\r\n", body: "0123456789"},
		{name: "RFC9112-7.1/leading-zeros", in: "005\r\nhello\r\n000\r\n\r\n", body: "hello"},
		{name: "RFC9112-7.1/too-many-zeros", in: strings.Repeat("0", 17) + "5\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1/overflow", in: "8000000000000000\r\n", want: 413},
		{name: "RFC9112-7.1/too-many-digits", in: strings.Repeat("A", 35) + "\r\n", want: 413},
		{name: "RFC9112-7.1/max-int64", in: "7fffffffffffffff\r\nab", want: -1, body: "ab"},
		{name: "RFC9112-7.1/no-digits", in: "\r\n", want: 400},
		{name: "RFC9112-7.1/leading-space", in: " 5\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1/trailing-space", in: "5 \r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1/bare-lf-size", in: "5\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1/bare-lf-data", in: "5\r\nhello\n0\r\n\r\n", want: 400, body: "hello"},
		{name: "RFC9112-7.1/missing-crlf-after-data", in: "5\r\nhelloX\r\n0\r\n\r\n", want: 400, body: "hello"},
		{name: "RFC9112-7.1/sign", in: "+5\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.1/ext", in: "5;a=b;c\r\nhello\r\n0;x=\"y z\"\r\n\r\n", body: "hello"},
		{name: "RFC9112-7.1.1/ext-bws", in: "5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", body: "hello"},
		{name: "RFC9112-7.1.1/ext-quoted-pair", in: "5;a=\"\\\"q\\\\\"\r\nhello\r\n0\r\n\r\n", body: "hello"},
		{name: "RFC9112-7.1.1/ext-empty", in: "5;\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.1/ext-no-semicolon", in: "5 ext\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.1/ext-unbalanced-quote", in: "5;a=\"b\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.1/ext-del", in: "5;a=\x7fb\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.1/ext-empty-value", in: "5;a=\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.1/ext-too-long", in: "5;a=" + strings.Repeat("b", 5000) + "\r\nhello\r\n0\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.2/trailers", in: "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B:  2 \r\n\r\n", body: "hello"},
		{name: "RFC9112-7.1.2/trailer-obs-fold", in: "0\r\nX-A: 1\r\n 2\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.2/trailer-bare-lf", in: "0\r\nX-A: 1\n\r\n", want: 400},
		{name: "RFC9112-7.1.2/trailer-space-colon", in: "0\r\nX-A : 1\r\n\r\n", want: 400},
		{name: "RFC9112-7.1.2/trailer-too-many", in: "0\r\n" + strings.Repeat("X: 1\r\n", 21) + "\r\n", want: 431},
		{name: "RFC9112-7.1.2/trailer-too-large", in: "0\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", want: 431},
		{name: "RFC9112-7.1/missing-last-chunk", in: "3\r\nfoo\r\n", want: -1, body: "foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{len(tt.in), 1, 3} {
				var d ChunkedDecoder
				body, used, err := decodeAll(&d, []byte(tt.in), step)
				if got := status(err); got != tt.want {
					t.Fatalf("step %d: status %d (%v), want %d", step, got, err, tt.want)
				}
				if string(body) != tt.body {
					t.Errorf("step %d: body %q", step, body)
				}
				if err == nil && used != len(tt.in) {
					t.Errorf("step %d: used %d of %d", step, used, len(tt.in))
				}
			}
		})
	}
}

func TestChunkedTrailersDropped(t *testing.T) {
	var d ChunkedDecoder
	in := "0\r\nX-A: 1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: evil\r\nConnection: close\r\nX-B: 2\r\n\r\n"
	if _, _, err := decodeAll(&d, []byte(in), 1); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range d.Trailers {
		got = append(got, string(f.Name)+"="+string(f.Value))
	}
	if strings.Join(got, ",") != "X-A=1,X-B=2" {
		t.Errorf("RFC9110-6.5.1/framing-trailers-dropped: %q", got)
	}
}

func TestChunkedRoundTrip(t *testing.T) {
	var enc []byte
	parts := [][]byte{[]byte("a"), bytes.Repeat([]byte("b"), 300), []byte("ccc")}
	for _, p := range parts {
		enc = AppendChunk(enc, p)
	}
	enc = AppendLastChunk(enc, []Field{{Name: []byte("X-Sum"), Value: []byte("7")}})
	var d ChunkedDecoder
	body, used, err := decodeAll(&d, enc, 7)
	if err != nil || used != len(enc) || string(body) != string(bytes.Join(parts, nil)) {
		t.Fatalf("err %v used %d/%d body %d", err, used, len(enc), len(body))
	}
	if len(d.Trailers) != 1 || string(d.Trailers[0].Value) != "7" {
		t.Errorf("trailers %q", d.Trailers)
	}
}
