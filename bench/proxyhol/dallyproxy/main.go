// Command dallyproxy is dally's reverse proxy in the proxy benchmarks:
// proxy.Proxy to one upstream, served by dally's server, as
// `dally proxy -upstream URL` would run it.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/dallyhttp/dally/proxy"
	"github.com/dallyhttp/dally/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18191", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:18190", "origin URL")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here until SIGTERM/SIGINT (for looking, not for the figures)")
	flag.Parse()
	stop := func() {}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		stop = func() { pprof.StopCPUProfile(); f.Close() }
	}
	p, err := proxy.NewReverse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Addr: *listen, Handler: p, ConnState: p.ConnState, MaxRequestsPerConn: -1}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-c; stop(); os.Exit(0) }()
	log.Fatal(srv.ListenAndServe())
}
