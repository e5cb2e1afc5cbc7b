package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// parseTarget must give exactly what url.ParseRequestURI gives, fast path
// or not.
func checkParseTarget(t *testing.T, target string) {
	t.Helper()
	var got url.URL
	gotErr := parseTarget(&got, target)
	want, wantErr := url.ParseRequestURI(target)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, ParseRequestURI %v", target, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(&got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", target, got, *want)
	}
}

func TestParseTargetMatchesParseRequestURI(t *testing.T) {
	for _, target := range []string{
		"/", "/plaintext", "/a/b/c.html", "//x", "///x", "/a?", "/a??", "/a?b=c&d", "/a?%zz",
		"/a%20b", "/a%2Fb", "/%zz", "/a b", "/a#f", "/a?b#f", "/a!b", "/a(b)", "/a*b", "/a'b",
		"/$&+,:;=@", "/~user/x-y_z.txt", "/a?\x7f", "/a\x7f", "/ü", "*", "", "a/b", "http://h/p",
	} {
		checkParseTarget(t, target)
	}
	// Every byte, in the path and in the query.
	for c := 0; c < 256; c++ {
		checkParseTarget(t, "/a"+string(rune(c))+"b")
		checkParseTarget(t, "/a"+string([]byte{byte(c)})+"b")
		checkParseTarget(t, "/a?"+string([]byte{byte(c)}))
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"/", "/a?b", "/a%20b?c#d", "//x/../y", "/a?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) { checkParseTarget(t, target) })
}

// The request a handler sees from a head with repeated, mixed-case and
// many fields: values in order per name, Host moved to r.Host, Trailer
// names declared.
func TestRequestFieldsAsNetHTTP(t *testing.T) {
	type seen struct {
		host   string
		header http.Header
		tr     http.Header
		url    string
	}
	got := make(chan seen, 2)
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- seen{r.Host, r.Header.Clone(), r.Trailer, r.URL.String()}
	}))
	w := dial(t, addr)
	w.send("POST /a/b?x=1 HTTP/1.1\r\nhost: example.com\r\nX-A: 1\r\nx-b: 2\r\nX-a: 3\r\n" +
		"Trailer: X-T, x-u\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 9\r\n\r\n")
	w.response("POST")
	s := <-got
	want := http.Header{"X-A": {"1", "3"}, "X-B": {"2"}, "Trailer": {"X-T, x-u"}}
	if s.host != "example.com" || !reflect.DeepEqual(s.header, want) || s.url != "/a/b?x=1" {
		t.Fatalf("host %q url %q header %v", s.host, s.url, s.header)
	}
	if _, ok := s.tr["X-U"]; !ok || len(s.tr) != 2 {
		t.Fatalf("trailer %v", s.tr)
	}
	// More fields than newRequest compares by name (maxDupScan).
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: h\r\n")
	for i := 0; i < maxDupScan+8; i++ {
		fmt.Fprintf(&b, "X-%d: %d\r\nX-Rep: %d\r\n", i, i, i)
	}
	b.WriteString("\r\n")
	w.send(b.String())
	w.response("GET")
	s = <-got
	if len(s.header["X-Rep"]) != maxDupScan+8 || s.header.Get("X-3") != "3" || len(s.header) != maxDupScan+9 {
		t.Fatalf("%d X-Rep values, %d names", len(s.header["X-Rep"]), len(s.header))
	}
}
