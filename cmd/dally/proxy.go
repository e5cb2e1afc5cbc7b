package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/proxy"
	"github.com/dallyhttp/dally/server"
)

// proxyUpstreams is the repeatable -upstream flag.
type proxyUpstreams []string

func (u *proxyUpstreams) String() string { return strings.Join(*u, ",") }
func (u *proxyUpstreams) Set(v string) error {
	if _, err := proxy.ParseUpstream(v); err != nil {
		return err
	}
	*u = append(*u, v)
	return nil
}

// proxyCmd runs `dally proxy`: a reverse proxy to -upstream URLs, or a
// forward proxy with -forward (or both: origin-form requests go upstream,
// absolute-form and CONNECT are forwarded).
func proxyCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("dally proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ups proxyUpstreams
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	fs.Var(&ups, "upstream", "origin URL http://host:port[/path] of the reverse proxy (repeatable)")
	balance := fs.String("balance", "rr", "how upstreams are chosen: rr (round robin) or leastconn")
	forward := fs.Bool("forward", false, "forward proxy: absolute-form requests and CONNECT")
	ports := fs.String("connect-ports", "443", "comma-separated ports CONNECT may reach")
	auth := fs.String("auth", "", "user:password required in Proxy-Authorization (Basic) by the forward proxy")
	rewriteHost := fs.Bool("rewrite-host", false, "send the upstream's host in Host instead of the client's")
	upTimeout := fs.Duration("upstream-timeout", proxy.DefaultUpstreamTimeout, "wait for an upstream's response head (504 past it)")
	dialTimeout := fs.Duration("dial-timeout", proxy.DefaultDialTimeout, "wait for an upstream connection")
	failTimeout := fs.Duration("fail-timeout", proxy.DefaultFailTimeout, "how long an upstream that refused a connection is skipped")
	idle := fs.Duration("idle-timeout", server.DefaultIdleTimeout, "how long a client's keep-alive connection may wait for its next request")
	drain := fs.Duration("drain-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight requests may take before connections are cut")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dally proxy -listen ADDR -upstream URL [-upstream URL ...] [-balance rr|leastconn]\n       dally proxy -listen ADDR -forward [-connect-ports 443,...] [-auth user:pass]\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(ups) == 0 && !*forward {
		fmt.Fprintln(stderr, "dally proxy: need -upstream URL or -forward")
		fs.Usage()
		return 2
	}
	bal, err := proxy.ParseBalance(*balance)
	if err != nil {
		fmt.Fprintf(stderr, "dally proxy: %v\n", err)
		return 2
	}
	p := &proxy.Proxy{
		Balance:         bal,
		Forward:         *forward,
		RewriteHost:     *rewriteHost,
		UpstreamTimeout: *upTimeout,
		DialTimeout:     *dialTimeout,
		FailTimeout:     *failTimeout,
	}
	for _, s := range ups {
		u, _ := proxy.ParseUpstream(s) // checked by Set
		p.Upstreams = append(p.Upstreams, u)
	}
	for _, s := range strings.Split(*ports, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 65535 {
			fmt.Fprintf(stderr, "dally proxy: bad port %q in -connect-ports\n", s)
			return 2
		}
		p.ConnectPorts = append(p.ConnectPorts, n)
	}
	if *auth != "" {
		user, pass, ok := strings.Cut(*auth, ":")
		if !ok {
			fmt.Fprintln(stderr, "dally proxy: -auth wants user:password")
			return 2
		}
		p.ForwardAuth = proxy.BasicAuth(user, pass)
	}
	srv := &server.Server{Handler: p, ConnState: p.ConnState, IdleTimeout: *idle}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "dally proxy: %v\n", err)
		return 1
	}
	what := "forward proxy"
	if len(ups) > 0 {
		what = "reverse proxy to " + strings.Join(ups, ", ") + " (" + *balance + ")"
		if *forward {
			what += " and forward proxy"
		}
	}
	log.Printf("dally: %s on http://%s/ (Ctrl-C drains and stops)", what, ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "dally proxy: %v\n", err)
		p.Close()
		return 1
	case s := <-sig:
		log.Printf("dally: %v: draining (up to %v)", s, *drain)
		ctx, cancel := context.WithTimeout(context.Background(), *drain)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Printf("dally: drain cut short: %v", err)
		}
		<-done
		p.Close()
	}
	return 0
}
