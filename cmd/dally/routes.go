package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dallyhttp/dally/cmd/dally/internal/config"
	"github.com/dallyhttp/dally/proxy"
)

// router sends a request to the route of its host and longest path prefix;
// routes for a named host come before routes for any host. Proxy requests
// (absolute-form targets and CONNECT, RFC 9112 §3.2.2-3.2.3) go to the
// forward route. Immutable once built: a reload builds a new one.
type router struct {
	routes  []route
	forward http.Handler
}

type route struct {
	host, path string
	h          http.Handler
}

// proxies are a build's proxy handlers by route, so that a reload keeps
// the proxies of routes it did not change (with their upstream pools,
// passive health and count of client connections).
type proxies map[string]*proxy.Proxy

func routeKey(r config.Route) string {
	r.Line = 0
	return fmt.Sprintf("%#v", r)
}

// buildRouter builds c's routes, reusing the proxies in prev for routes
// that did not change; built holds the proxies of the new router.
func buildRouter(c *config.Config, prev proxies, errLog *log.Logger) (rt *router, built proxies, err error) {
	rt, built = &router{}, proxies{}
	var errs []error
	for _, r := range c.Routes {
		h, err := routeHandler(c, r, prev, built, errLog)
		if err != nil {
			errs = append(errs, fmt.Errorf("route at line %d (%s %s%s): %w", r.Line, r.Type, r.Host, r.Path, err))
			continue
		}
		if r.Type == config.RouteForward {
			rt.forward = h
			continue
		}
		rt.routes = append(rt.routes, route{host: r.Host, path: r.Path, h: h})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	sortRoutes(rt.routes)
	return rt, built, nil
}

// sortRoutes puts routes in matching order: a named host before any host,
// then the longest path first.
func sortRoutes(rs []route) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if (a.host == "") != (b.host == "") {
			return a.host != ""
		}
		return len(a.path) > len(b.path)
	})
}

func routeHandler(c *config.Config, r config.Route, prev, built proxies, errLog *log.Logger) (http.Handler, error) {
	switch r.Type {
	case config.RouteDemo:
		return demoSite(), nil
	case config.RouteStatic:
		// Like nginx's root: the whole URL path is looked up under root.
		return http.FileServer(http.Dir(filepath.Clean(c.Path(r.Root)))), nil
	case config.RouteProxy, config.RouteForward:
		key := routeKey(r)
		if p := prev[key]; p != nil {
			built[key] = p
			return p, nil
		}
		p, err := newProxy(r, errLog)
		if err != nil {
			return nil, err
		}
		built[key] = p
		return p, nil
	}
	return nil, fmt.Errorf("unknown route type %q", r.Type)
}

// newProxy is a proxy route's handler: a reverse proxy to its upstreams or
// the forward proxy. The request's whole path is appended to the
// upstream's (no prefix is stripped).
func newProxy(r config.Route, errLog *log.Logger) (*proxy.Proxy, error) {
	p := &proxy.Proxy{
		UpstreamTimeout: time.Duration(r.UpstreamTimeout),
		DialTimeout:     time.Duration(r.DialTimeout),
		FailTimeout:     time.Duration(r.FailTimeout),
		ErrorLog:        errLog,
	}
	if r.Type == config.RouteForward {
		p.Forward = true
		p.ConnectPorts = append([]int(nil), r.ConnectPorts...)
		p.TunnelIdleTimeout = time.Duration(r.TunnelIdleTimeout)
		return p, nil
	}
	p.RewriteHost = r.RewriteHost
	if r.Balance == "least_conn" {
		p.Balance = proxy.LeastConn
	}
	for _, s := range r.Upstreams {
		u, err := proxy.ParseUpstream(s)
		if err != nil {
			return nil, err
		}
		p.Upstreams = append(p.Upstreams, u)
	}
	return p, nil
}

// retire closes the proxies of old that built does not keep, once nothing
// runs through them: no request in flight and no tunnel open (Close would
// cut tunnels). Bounded by the process: the goroutines end at exit.
func retire(old, built proxies) {
	for k, p := range old {
		if built[k] == p {
			continue
		}
		go func() {
			for {
				if st := p.Stats(); st.InFlight == 0 && st.Tunnels == 0 {
					p.Close()
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	absolute := !strings.HasPrefix(r.RequestURI, "/") && r.RequestURI != "*"
	if r.Method == http.MethodConnect || absolute {
		if rt.forward != nil {
			rt.forward.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodConnect {
			http.Error(w, "this server is not a forward proxy", http.StatusMethodNotAllowed)
			return
		}
		// An origin server accepts the absolute form too, and routes by
		// its authority rather than Host (RFC 9112 §3.2.2, §3.2.3).
	}
	host := r.Host
	if absolute && r.URL.Host != "" {
		host = r.URL.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for i := range rt.routes {
		x := &rt.routes[i]
		if (x.host == "" || x.host == host) && pathHasPrefix(r.URL.Path, x.path) {
			x.h.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "no route for this host and path", http.StatusNotFound)
}

// pathHasPrefix matches whole segments: /api matches /api and /api/x, not
// /apix.
func pathHasPrefix(p, prefix string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || strings.HasSuffix(prefix, "/") || p[len(prefix)] == '/'
}
