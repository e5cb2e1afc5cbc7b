package proxy

import (
	"net/url"
	"testing"
)

// The upstream request target is the client's path, spelled as the client
// spelled it, under the upstream's base path.
func TestUpstreamURLKeepsTheClientsSpelling(t *testing.T) {
	for _, tc := range []struct{ base, target, want string }{
		{"http://u", "/!", "/!"},
		{"http://u", "/a%2Fb", "/a%2Fb"},
		{"http://u", "/a(b)*'c", "/a(b)*'c"},
		{"http://u", "/%7Euser", "/%7Euser"},
		{"http://u/base/", "/x;y=1?q=a!b", "/base/x;y=1?q=a!b"},
		{"http://u/b%20p", "/p!", "/b%20p/p!"},
		{"http://u", "/plain?x=1", "/plain?x=1"},
	} {
		base, err := url.Parse(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		req, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		var u url.URL
		upstreamURL(&u, base, req)
		if got := u.RequestURI(); got != tc.want {
			t.Errorf("base %s, target %s: upstream %s, want %s", tc.base, tc.target, got, tc.want)
		}
	}
}
