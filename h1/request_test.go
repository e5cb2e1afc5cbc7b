package h1

import (
	"errors"
	"strings"
	"testing"
)

// status returns the status an error maps to: 0 for success, -1 for
// ErrNeedMore.
func status(err error) int {
	var e *Error
	switch {
	case err == nil:
		return 0
	case err == ErrNeedMore:
		return -1
	case errors.As(err, &e):
		return e.Status
	}
	return -2
}

func TestParseRequestTable(t *testing.T) {
	const host = "Host: a\r\n"
	tests := []struct {
		name string
		in   string
		want int // 0 ok, -1 need more, else status
		chk  func(t *testing.T, r *Request)
	}{
		{name: "RFC9112-3/simple-get", in: "GET / HTTP/1.1\r\n" + host + "\r\n", chk: func(t *testing.T, r *Request) {
			if string(r.Method) != "GET" || string(r.Target) != "/" || r.Major != 1 || r.Minor != 1 || r.Form != FormOrigin {
				t.Errorf("got %q %q %d.%d form %d", r.Method, r.Target, r.Major, r.Minor, r.Form)
			}
			if string(r.Host) != "a" || r.ContentLength != -1 || len(r.Fields) != 1 {
				t.Errorf("host %q cl %d fields %d", r.Host, r.ContentLength, len(r.Fields))
			}
		}},
		{name: "RFC9112-3/partial", in: "GET / HTTP/1.1\r\nHost: a\r\n", want: -1},
		{name: "RFC9112-3/partial-line", in: "GET / HT", want: -1},
		{name: "RFC9112-2.2/leading-crlf-ignored", in: "\r\nGET / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "RFC9112-2.2/many-leading-crlf", in: strings.Repeat("\r\n", 9) + "GET / HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-2.2/bare-lf-request-line", in: "GET / HTTP/1.1\n" + host + "\r\n", want: 400},
		{name: "RFC9112-2.2/bare-lf-field", in: "GET / HTTP/1.1\r\nHost: a\n\r\n", want: 400},
		{name: "RFC9112-2.2/bare-lf-end", in: "GET / HTTP/1.1\r\nHost: a\r\n\n", want: 400},
		{name: "RFC9112-2.2/bare-cr-field", in: "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", want: 400},
		{name: "RFC9112-2.2/bare-cr-partial", in: "GET / HTTP/1.1\r\nHost: a\rX", want: 400},
		{name: "RFC9112-2.2/bare-cr-end", in: "GET / HTTP/1.1\r\nHost: a\r\n\rX", want: 400},
		{name: "RFC9112-2.2/space-after-start-line", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", want: 400},
		{name: "RFC9112-3/lowercase-method-is-token", in: "get / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "RFC9112-3/unknown-method-ok", in: "BREW / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "RFC9112-3/method-not-token", in: "G/T / HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3/method-nul", in: "G\x00T / HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3/tab-separator", in: "GET\t/ HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3/double-space", in: "GET  / HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3/trailing-space", in: "GET / HTTP/1.1 \r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3/http09-simple", in: "GET /\r\n\r\n", want: 400},
		{name: "RFC9112-3/request-line-too-long", in: "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\n\r\n", want: 414},
		{name: "RFC9112-3/request-line-too-long-partial", in: "GET /" + strings.Repeat("a", 9000), want: 414},
		{name: "RFC9112-3.2.1/origin-query", in: "GET /a?b=c HTTP/1.1\r\n" + host + "\r\n"},
		{name: "RFC9112-3.2.1/fragment", in: "GET /a#f HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3.2.1/ctl-in-target", in: "GET /\x01 HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3.2.1/utf8-in-target", in: "GET /\xce\xb4 HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3.2.2/absolute", in: "GET http://a.example:8080/x?y HTTP/1.1\r\nHost: b\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if r.Form != FormAbsolute {
				t.Errorf("form %d", r.Form)
			}
		}},
		{name: "RFC9112-3.2.2/absolute-ipv6", in: "GET http://[::1]:80/ HTTP/1.0\r\n\r\n"},
		{name: "RFC9112-3.2.2/absolute-bad-ipv6", in: "GET http://[4712::abcd::]/ HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC9110-4.2.4/userinfo", in: "GET http://u@a/ HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC9110-4.2.1/empty-host", in: "GET http:/// HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC3986-7.4/octal-host", in: "GET http://017700000001/ HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC3986-7.4/hex-host", in: "GET http://0x7f.1/ HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC3986-7.4/leading-zero-ipv4", in: "GET http://127.01.0.1/ HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC3986-3.2.2/ipv4", in: "GET http://127.0.0.1/ HTTP/1.0\r\n\r\n"},
		{name: "RFC3986-3.2.2/pct-host", in: "GET http://%31/ HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC9112-3.2.2/bad-port", in: "GET http://a:80x/ HTTP/1.0\r\n\r\n", want: 400},
		{name: "RFC9112-3.2.3/connect-authority", in: "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if r.Form != FormAuthority {
				t.Errorf("form %d", r.Form)
			}
		}},
		{name: "RFC9110-9.3.6/connect-without-port", in: "CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", want: 400},
		{name: "RFC9112-3.2.3/connect-origin-form", in: "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", want: 400},
		{name: "RFC9112-3.2.3/authority-not-connect", in: "GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", want: 400},
		{name: "RFC9112-3.2.4/asterisk-options", in: "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", chk: func(t *testing.T, r *Request) {
			if r.Form != FormAsterisk {
				t.Errorf("form %d", r.Form)
			}
		}},
		{name: "RFC9112-3.2.4/asterisk-get", in: "GET * HTTP/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-2.3/http10", in: "GET / HTTP/1.0\r\n\r\n"},
		{name: "RFC9110-6.2/http12-served-as-11", in: "GET / HTTP/1.2\r\n" + host + "\r\n"},
		{name: "RFC9112-2.3/http20", in: "GET / HTTP/2.0\r\n" + host + "\r\n", want: 505},
		{name: "RFC9112-2.3/http09", in: "GET / HTTP/0.9\r\n\r\n", want: 505},
		{name: "RFC9112-2.3/http3", in: "GET / HTTP/3.0\r\n\r\n", want: 505},
		{name: "RFC9112-2.3/two-digit-minor", in: "GET / HTTP/1.11\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-2.3/two-digit-major", in: "GET / HTTP/10.0\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-2.3/lowercase-http", in: "GET / http/1.1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-2.3/no-minor", in: "GET / HTTP/1\r\n" + host + "\r\n", want: 400},
		{name: "RFC9112-3.2/missing-host-11", in: "GET / HTTP/1.1\r\n\r\n", want: 400},
		{name: "RFC9112-3.2/missing-host-10-ok", in: "GET / HTTP/1.0\r\n\r\n"},
		{name: "RFC9112-3.2/two-hosts", in: "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", want: 400},
		{name: "RFC9112-3.2/empty-host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if r.Host == nil || len(r.Host) != 0 {
				t.Errorf("host %q nil=%v", r.Host, r.Host == nil)
			}
		}},
		{name: "RFC9112-3.2/bad-host-space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", want: 400},
		{name: "RFC9112-3.2/bad-host-backslash", in: "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", want: 400},
		{name: "RFC9112-3.2/host-ipv6-port", in: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"},
		{name: "RFC9112-5.1/space-before-colon", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", want: 400},
		{name: "RFC9112-5.1/tab-before-colon", in: "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", want: 400},
		{name: "RFC9112-5.1/empty-name", in: "GET / HTTP/1.1\r\n" + host + ": x\r\n\r\n", want: 400},
		{name: "RFC9112-5.1/no-colon", in: "GET / HTTP/1.1\r\n" + host + "Foo\r\n\r\n", want: 400},
		{name: "RFC9112-5.1/bad-name-char", in: "GET / HTTP/1.1\r\n" + host + "F@o: x\r\n\r\n", want: 400},
		{name: "RFC9112-5.1/space-in-name", in: "GET / HTTP/1.1\r\n" + host + "Foo bar: x\r\n\r\n", want: 400},
		{name: "RFC9112-5.2/obs-fold", in: "GET / HTTP/1.1\r\n" + host + "X: a\r\n b\r\n\r\n", want: 400},
		{name: "RFC9112-5.2/obs-fold-tab", in: "GET / HTTP/1.1\r\n" + host + "X: a\r\n\tb\r\n\r\n", want: 400},
		{name: "RFC9110-5.5/nul-in-value", in: "GET / HTTP/1.1\r\n" + host + "X: a\x00b\r\n\r\n", want: 400},
		{name: "RFC9110-5.5/ctl-in-value", in: "GET / HTTP/1.1\r\n" + host + "X: a\x01b\r\n\r\n", want: 400},
		{name: "RFC9110-5.5/del-in-value", in: "GET / HTTP/1.1\r\n" + host + "X: a\x7fb\r\n\r\n", want: 400},
		{name: "RFC9110-5.5/htab-in-value-ok", in: "GET / HTTP/1.1\r\n" + host + "X: a\tb\r\n\r\n"},
		{name: "RFC9110-5.5/obs-text-ok", in: "GET / HTTP/1.1\r\n" + host + "X: D\xfcsseldorf\r\n\r\n"},
		{name: "RFC9110-5.5/ows-trimmed", in: "GET / HTTP/1.1\r\n" + host + "X: \t v \t\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if string(r.Fields[1].Value) != "v" {
				t.Errorf("value %q", r.Fields[1].Value)
			}
		}},
		{name: "RFC6585-5/too-many-fields", in: "GET / HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n", want: 431},
		{name: "RFC6585-5/head-too-large", in: "GET / HTTP/1.1\r\n" + strings.Repeat("X: "+strings.Repeat("y", 1000)+"\r\n", 66) + "\r\n", want: 431},
		{name: "RFC6585-5/head-too-large-partial", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("y", 70000), want: 431},
		{name: "RFC9112-6.2/content-length", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if k, n := RequestBody(r); r.ContentLength != 5 || k != BodyLength || n != 5 {
				t.Errorf("cl %d kind %v %d", r.ContentLength, k, n)
			}
		}},
		{name: "RFC9112-6.2/content-length-zeroes", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 003\r\n\r\n"},
		{name: "RFC9110-8.6/content-length-list-same", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5, 5\r\n\r\n"},
		{name: "RFC9110-8.6/content-length-dup-same", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"},
		{name: "RFC9110-8.6/content-length-list-differ", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5, 6\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-dup-differ", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-sign", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-negative", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-hex", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x5\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-empty", in: "POST / HTTP/1.1\r\n" + host + "Content-Length:\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-inner-space", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 4 2\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-overflow", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 9223372036854775808\r\n\r\n", want: 400},
		{name: "RFC9110-8.6/content-length-max", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 9223372036854775807\r\n\r\n"},
		{name: "RFC9112-6.1/chunked", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if k, _ := RequestBody(r); !r.Chunked || k != BodyChunked {
				t.Errorf("chunked %v kind %v", r.Chunked, k)
			}
		}},
		{name: "RFC9112-6.1/chunked-case", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: ChUnKeD\r\n\r\n"},
		{name: "RFC9112-6.1/chunked-twice", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, chunked\r\n\r\n", want: 400},
		{name: "RFC9112-6.1/chunked-twice-lines", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", want: 400},
		{name: "RFC9112-6.3/chunked-not-final", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n", want: 400},
		{name: "RFC9112-6.1/unknown-coding", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: pigeons\r\n\r\n", want: 501},
		{name: "RFC9112-6.1/unknown-then-chunked", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: pigeons, chunked\r\n\r\n", want: 501},
		{name: "RFC9112-7.2/gzip-chunked-not-decoded", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n", want: 501},
		{name: "RFC9112-6.1/empty-te", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n\r\n", want: 400},
		{name: "RFC9112-6.1/te-not-token", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: \"chunked\"\r\n\r\n", want: 400},
		{name: "RFC9112-6.1/te-and-cl", in: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", want: 400},
		{name: "RFC9112-6.1/cl-and-te", in: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", want: 400},
		{name: "RFC9112-6.1/te-in-http10", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", want: 400},
		{name: "RFC9112-6.3/no-body", in: "GET / HTTP/1.1\r\n" + host + "\r\n", chk: func(t *testing.T, r *Request) {
			if k, _ := RequestBody(r); k != BodyNone {
				t.Errorf("kind %v", k)
			}
		}},
		{name: "RFC9110-7.6.1/connection-close", in: "GET / HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if !r.Conn.Close || r.Persistent(RoleServer) {
				t.Errorf("conn %+v", r.Conn)
			}
		}},
		{name: "RFC9110-5.6.1/connection-empty-elements", in: "GET / HTTP/1.1\r\n" + host + "Connection: ,, Keep-Alive ,\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if !r.Conn.KeepAlive || r.Conn.Close {
				t.Errorf("conn %+v", r.Conn)
			}
		}},
		{name: "RFC9110-7.6.1/connection-several-lines", in: "GET / HTTP/1.0\r\nConnection: foo\r\nConnection: KEEP-ALIVE, Upgrade\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if !r.Conn.KeepAlive || !r.Conn.Upgrade || !r.Conn.Other || !r.Persistent(RoleServer) {
				t.Errorf("conn %+v", r.Conn)
			}
		}},
		{name: "RFC7230-6.1/connection-not-token-list", in: "GET / HTTP/1.1\r\n" + host + "Connection: close; x\r\n\r\n", want: 400},
		{name: "RFC7230-6.1/connection-quoted", in: "GET / HTTP/1.1\r\n" + host + "Connection: \"close\"\r\n\r\n", want: 400},
		{name: "RFC9110-10.1.1/expect-100", in: "PUT / HTTP/1.1\r\n" + host + "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if !r.Expect100 || r.ExpectOther {
				t.Errorf("expect %v %v", r.Expect100, r.ExpectOther)
			}
		}},
		{name: "RFC9110-10.1.1/expect-other", in: "PUT / HTTP/1.1\r\n" + host + "Expect: x\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if r.Expect100 || !r.ExpectOther {
				t.Errorf("expect %v %v", r.Expect100, r.ExpectOther)
			}
		}},
		{name: "RFC9110-7.8/upgrade", in: "GET / HTTP/1.1\r\n" + host + "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n", chk: func(t *testing.T, r *Request) {
			if string(r.Upgrade) != "websocket" || !r.Conn.Upgrade {
				t.Errorf("upgrade %q %+v", r.Upgrade, r.Conn)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequest([]byte(tt.in), &r, nil)
			if got := status(err); got != tt.want {
				t.Fatalf("status %d (%v), want %d", got, err, tt.want)
			}
			if err == nil && n != len(tt.in) {
				t.Errorf("n = %d, want %d", n, len(tt.in))
			}
			if err == nil && tt.chk != nil {
				tt.chk(t, &r)
			}
			// The same bytes one at a time give the same result.
			var r2 Request
			var err2 error
			n2 := 0
			for i := 1; i <= len(tt.in); i++ {
				n2, err2 = ParseRequest([]byte(tt.in[:i]), &r2, nil)
				if err2 != ErrNeedMore {
					break
				}
			}
			if status(err2) != status(err) || n2 != n {
				t.Errorf("byte at a time: %d %v, whole: %d %v", n2, err2, n, err)
			}
		})
	}
}
