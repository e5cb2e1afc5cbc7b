// Command dally runs dally's HTTP/1.1 server.
//
//	dally [serve] [flags]   serve a directory, or the embedded demo site
//
// Run `dally serve -h` for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/server"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		os.Exit(serve(args, os.Stderr))
	case "help":
		usage(os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "dally: unknown command %q\n", cmd)
		usage(os.Stderr)
		os.Exit(2)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: dally [command] [flags]

commands:
  serve   serve a directory (-root) or the embedded demo site (the default)
  help    this text

Run 'dally serve -h' for the server's flags.`)
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("dally serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	root := fs.String("root", "", "directory of static files to serve (default: the embedded demo site)")
	idle := fs.Duration("idle-timeout", server.DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request; advertised in Keep-Alive: timeout=")
	header := fs.Duration("header-timeout", server.DefaultHeaderTimeout, "time allowed from a request head's first byte to its end (heads slower than 256 B/s after 2 s are cut too)")
	body := fs.Duration("body-timeout", server.DefaultBodyTimeout, "how long a read of the request body may wait for the next byte")
	write := fs.Duration("write-timeout", server.DefaultWriteTimeout, "how long a write may wait for the client to make room")
	maxReq := fs.Int("max-requests", server.DefaultMaxRequests, "requests per connection; the last response carries Connection: close (-1: unlimited)")
	maxConns := fs.Int("max-conns", 0, "open connections; at the limit the least recently used idle one is closed for a newcomer (0: the descriptor limit less 128)")
	drain := fs.Duration("drain-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight requests may take before connections are cut")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dally serve [flags]\n\nServes HTTP/1.1 on -listen. Without -root, the demo site: / /echo /bytes/{n} /chunked/{n} /delay/{duration} /status/{code}.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var h http.Handler
	if *root != "" {
		if st, err := os.Stat(*root); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "dally: -root %q is not a directory\n", *root)
			return 2
		}
		h = http.FileServer(http.Dir(*root))
	} else {
		h = demoSite()
	}
	srv := &server.Server{
		Handler:            h,
		IdleTimeout:        *idle,
		HeaderTimeout:      *header,
		BodyTimeout:        *body,
		WriteTimeout:       *write,
		MaxRequestsPerConn: *maxReq,
		MaxConns:           *maxConns,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "dally: %v\n", err)
		return 1
	}
	what := "the embedded demo site"
	if *root != "" {
		what = *root
	}
	log.Printf("dally: serving %s on http://%s/ (Ctrl-C drains and stops)", what, ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "dally: %v\n", err)
		return 1
	case s := <-sig:
		log.Printf("dally: %v: draining (up to %v)", s, *drain)
		ctx, cancel := context.WithTimeout(context.Background(), *drain)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Printf("dally: drain cut short: %v", err)
		}
		<-done
		st := srv.Stats()
		log.Printf("dally: stopped after %d connections, %d requests", st.Accepted, st.Requests)
		return 0
	}
}
