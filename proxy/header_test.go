package proxy

import (
	"net"
	"testing"
)

// remoteIP is net.SplitHostPort's host, or the whole address when that
// fails (what X-Forwarded-For carried before).
func TestRemoteIP(t *testing.T) {
	for _, a := range []string{"1.2.3.4:5", "[::1]:80", "[fe80::1%eth0]:443", "host:", ":80", "1.2.3.4",
		"::1", "a:b:c", "[::1]", "[a]b:80", "[]:1", "", ":", "[:1]:2", "x[y]:3", "[[::1]]:4"} {
		want := a
		if h, _, err := net.SplitHostPort(a); err == nil {
			want = h
		}
		if got := remoteIP(a); got != want {
			t.Errorf("remoteIP(%q) = %q, want %q", a, got, want)
		}
	}
}

func FuzzRemoteIP(f *testing.F) {
	f.Add("1.2.3.4:5")
	f.Add("[::1]:80")
	f.Fuzz(func(t *testing.T, a string) {
		want := a
		if h, _, err := net.SplitHostPort(a); err == nil {
			want = h
		}
		if got := remoteIP(a); got != want {
			t.Errorf("remoteIP(%q) = %q, want %q", a, got, want)
		}
	})
}
