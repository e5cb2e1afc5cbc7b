package h1

import (
	"bytes"
	"fmt"
	"testing"
)

var requestSeeds = []string{
	benchGET,
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
	"GET http://[::1]:8/p?q HTTP/1.0\r\nConnection: keep-alive, x\r\nX: \t v\t\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/2.0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
}

// splitParse feeds in growing prefixes (step bytes more each time) the way
// a server does, stopping at the first answer that is not ErrNeedMore.
func splitParse(in []byte, step int, parse func([]byte) (int, error)) (int, error) {
	for i := min(step, len(in)); ; i = min(i+step, len(in)) {
		n, err := parse(in[:i])
		if n > i {
			panic(fmt.Sprintf("consumed %d of %d", n, i))
		}
		if err != ErrNeedMore || i == len(in) {
			return n, err
		}
	}
}

func sameFields(a, b []Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Name, b[i].Name) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Request
		n, err := ParseRequest(in, &r, nil)
		if n < 0 || n > len(in) || (err != nil && n != 0) {
			t.Fatalf("n = %d of %d, err %v", n, len(in), err)
		}
		// Split anywhere equals whole: the same acceptance and the same
		// message; an error found early must also be an error whole.
		for _, step := range []int{1, 2, 7} {
			if step == 1 && len(in) > 256 {
				continue
			}
			var r2 Request
			n2, err2 := splitParse(in, step, func(b []byte) (int, error) { return ParseRequest(b, &r2, nil) })
			if (err == nil) != (err2 == nil) || (err == ErrNeedMore) != (err2 == ErrNeedMore) || n2 != n {
				t.Fatalf("step %d: %d %v; whole: %d %v", step, n2, err2, n, err)
			}
			if err == nil && (!bytes.Equal(r.Method, r2.Method) || !bytes.Equal(r.Target, r2.Target) || !sameFields(r.Fields, r2.Fields)) {
				t.Fatalf("step %d: different message", step)
			}
		}
		if err != nil {
			return
		}
		// Write then parse: the same message, every byte used.
		out := AppendRequestLine(nil, string(r.Method), string(r.Target), r.Major, r.Minor)
		for _, fl := range r.Fields {
			out = AppendFieldBytes(out, fl.Name, fl.Value)
		}
		out = append(out, '\r', '\n')
		var r3 Request
		n3, err3 := ParseRequest(out, &r3, nil)
		if err3 != nil || n3 != len(out) || !bytes.Equal(r.Method, r3.Method) || !bytes.Equal(r.Target, r3.Target) ||
			!sameFields(r.Fields, r3.Fields) || r.ContentLength != r3.ContentLength || r.Chunked != r3.Chunked ||
			r.Conn != r3.Conn || !bytes.Equal(r.Host, r3.Host) {
			t.Fatalf("round trip: %q -> %v", out, err3)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=9\r\n\r\n",
		"HTTP/1.1 301\r\nLocation: /\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\nX: y\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Response
		n, err := ParseResponse(in, &r, nil)
		if n < 0 || n > len(in) || (err != nil && n != 0) {
			t.Fatalf("n = %d of %d, err %v", n, len(in), err)
		}
		for _, step := range []int{1, 3} {
			if step == 1 && len(in) > 256 {
				continue
			}
			var r2 Response
			n2, err2 := splitParse(in, step, func(b []byte) (int, error) { return ParseResponse(b, &r2, nil) })
			if (err == nil) != (err2 == nil) || (err == ErrNeedMore) != (err2 == ErrNeedMore) || n2 != n {
				t.Fatalf("step %d: %d %v; whole: %d %v", step, n2, err2, n, err)
			}
			if err == nil && (r.Status != r2.Status || !sameFields(r.Fields, r2.Fields)) {
				t.Fatalf("step %d: different message", step)
			}
		}
		if err != nil {
			return
		}
		out := AppendStatusLine(nil, r.Major, r.Minor, r.Status, string(r.Reason))
		for _, fl := range r.Fields {
			out = AppendFieldBytes(out, fl.Name, fl.Value)
		}
		out = append(out, '\r', '\n')
		var r3 Response
		n3, err3 := ParseResponse(out, &r3, nil)
		if err3 != nil || n3 != len(out) || r.Status != r3.Status || !sameFields(r.Fields, r3.Fields) ||
			r.ContentLength != r3.ContentLength || r.Chunked != r3.Chunked || r.Conn != r3.Conn || r.KeepAlive != r3.KeepAlive {
			t.Fatalf("round trip: %q -> %v", out, err3)
		}
	})
}

func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"5;a=b;c=\"d\\\"e\"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"000A \t; x = y\r\n0123456789\r\n0\r\n\r\n",
		"7fffffffffffffff\r\n",
		"5\r\nhello\n0\r\n\r\n",
		"0\r\nContent-Length: 1\r\nX: 2\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d ChunkedDecoder
		body, used, err := decodeAll(&d, in, len(in)+1)
		if used > len(in) {
			t.Fatalf("used %d of %d", used, len(in))
		}
		for _, step := range []int{1, 2, 5} {
			if step == 1 && len(in) > 512 {
				continue
			}
			var d2 ChunkedDecoder
			body2, used2, err2 := decodeAll(&d2, in, step)
			if (err == nil) != (err2 == nil) || (err == ErrNeedMore) != (err2 == ErrNeedMore) {
				t.Fatalf("step %d: %v; whole: %v", step, err2, err)
			}
			if err == nil && (used != used2 || !bytes.Equal(body, body2) || !sameFields(d.Trailers, d2.Trailers)) {
				t.Fatalf("step %d: different body", step)
			}
		}
		if err != nil {
			return
		}
		// Encode what was decoded and decode it again.
		enc := AppendChunk(nil, body)
		enc = AppendLastChunk(enc, d.Trailers)
		var d3 ChunkedDecoder
		body3, used3, err3 := decodeAll(&d3, enc, 3)
		if err3 != nil || used3 != len(enc) || !bytes.Equal(body, body3) || !sameFields(d.Trailers, d3.Trailers) {
			t.Fatalf("round trip %q: %v", enc, err3)
		}
	})
}
