package h1

import (
	"strconv"
	"strings"
	"testing"
)

// dottedQuadRef is the grammar written plainly (RFC 3986 §3.2.2), the
// reference for dottedQuad's one-pass form.
func dottedQuadRef(h []byte) bool {
	parts := strings.Split(string(h), ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8) // 0-255, digits only
		if err != nil || len(p) > 1 && p[0] == '0' || v > 255 {
			return false
		}
	}
	return true
}

func TestDottedQuad(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"127.0.0.1", true}, {"0.0.0.0", true}, {"255.255.255.255", true},
		{"256.0.0.1", false}, {"1.2.3", false}, {"1.2.3.4.5", false},
		{"01.2.3.4", false}, {"1.2.3.4.", false}, {".1.2.3.4", false},
		{"1..3.4", false}, {"1.2.3.0004", false}, {"1.2.3.a", false}, {"", false},
		{"1.2.3.999", false}, {"00.1.2.3", false},
	} {
		if got := dottedQuad([]byte(tc.in)); got != tc.want || got != dottedQuadRef([]byte(tc.in)) {
			t.Errorf("dottedQuad(%q) = %v, want %v (reference %v)", tc.in, got, tc.want, dottedQuadRef([]byte(tc.in)))
		}
	}
}

func FuzzDottedQuad(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "1.2.3.4.", "01.1.1.1", "999.1.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := dottedQuad([]byte(s)), dottedQuadRef([]byte(s)); got != want {
			t.Fatalf("dottedQuad(%q) = %v, reference %v", s, got, want)
		}
	})
}

// BenchmarkParseWrkRequest is the head wrk sends: a numeric Host with a
// port (go test -run x -bench ParseWrk ./h1).
func BenchmarkParseWrkRequest(b *testing.B) {
	buf := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		r.Reset()
		if _, err := ParseRequest(buf, &r, nil); err != nil {
			b.Fatal(err)
		}
	}
}
