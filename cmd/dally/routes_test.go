package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dallyhttp/dally/cmd/dally/internal/config"
)

func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
}

// TestRouter: host routes before any-host routes, the longest prefix, whole
// path segments, the absolute form routed by its authority, CONNECT and
// absolute-form to the forward route when there is one.
func TestRouter(t *testing.T) {
	mk := func(forward bool) *router {
		rt := &router{routes: []route{
			{host: "", path: "/", h: named("any /")},
			{host: "", path: "/api", h: named("any /api")},
			{host: "app.example", path: "/", h: named("app /")},
			{host: "app.example", path: "/static/", h: named("app /static/")},
		}}
		if forward {
			rt.forward = named("forward")
		}
		sortRoutes(rt.routes)
		return rt
	}
	for _, tc := range []struct {
		name, method, target, host string
		forward                    bool
		status                     int
		want                       string
	}{
		{"any host", "GET", "/x", "other", false, 200, "any /"},
		{"prefix is a segment", "GET", "/apix", "other", false, 200, "any /"},
		{"prefix itself", "GET", "/api", "other", false, 200, "any /api"},
		{"under prefix", "GET", "/api/v1", "other", false, 200, "any /api"},
		{"host route first", "GET", "/api", "app.example", false, 200, "app /"},
		{"host with port and case", "GET", "/static/a.css", "APP.example:8080", false, 200, "app /static/"},
		{"absolute form by authority", "GET", "http://app.example/static/x", "other", false, 200, "app /static/"},
		{"connect without forward", "CONNECT", "example.com:443", "example.com:443", false, 405, ""},
		{"absolute form to forward", "GET", "http://app.example/static/x", "app.example", true, 200, "forward"},
		{"connect to forward", "CONNECT", "example.com:443", "example.com:443", true, 200, "forward"},
		{"origin form with forward", "GET", "/static/x", "app.example", true, 200, "app /static/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.ParseRequestURI(tc.target)
			if tc.method == "CONNECT" {
				u, err = &url.URL{Host: tc.target}, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			r := &http.Request{Method: tc.method, RequestURI: tc.target, URL: u, Host: tc.host, Header: http.Header{}}
			w := httptest.NewRecorder()
			mk(tc.forward).ServeHTTP(w, r)
			if w.Code != tc.status || (tc.want != "" && w.Body.String() != tc.want) {
				t.Errorf("%d %q, want %d %q", w.Code, w.Body.String(), tc.status, tc.want)
			}
		})
	}
	// No route: 404 with a reason.
	rt := &router{routes: []route{{host: "a", path: "/", h: named("a")}}}
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, &http.Request{Method: "GET", RequestURI: "/", URL: &url.URL{Path: "/"}, Host: "b"})
	if w.Code != 404 || !strings.Contains(w.Body.String(), "no route") {
		t.Errorf("no route: %d %q", w.Code, w.Body.String())
	}
}

// TestBuildRouterReusesProxies: a rebuild keeps the proxy of an unchanged
// route and makes a new one for a changed route.
func TestBuildRouterReusesProxies(t *testing.T) {
	c := &config.Config{Routes: []config.Route{
		{Type: config.RouteProxy, Path: "/a/", Upstreams: []string{"http://127.0.0.1:1"}, Balance: "round_robin"},
		{Type: config.RouteProxy, Path: "/b/", Upstreams: []string{"http://127.0.0.1:2"}, Balance: "least_conn"},
	}}
	_, first, err := buildRouter(c, nil, nil)
	if err != nil || len(first) != 2 {
		t.Fatalf("%v %v", first, err)
	}
	c.Routes[1].Upstreams = []string{"http://127.0.0.1:3"}
	_, second, err := buildRouter(c, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second[routeKey(c.Routes[0])] != first[routeKey(c.Routes[0])] {
		t.Errorf("unchanged route got a new proxy")
	}
	for k, p := range first {
		if k != routeKey(c.Routes[0]) && second[routeKey(c.Routes[1])] == p {
			t.Errorf("changed route kept its old proxy")
		}
	}
}
