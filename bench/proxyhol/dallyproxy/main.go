// Command dallyproxy is dally's reverse proxy in the proxy benchmarks:
// proxy.Proxy to one upstream, served by dally's server, as
// `dally proxy -upstream URL` would run it.
package main

import (
	"flag"
	"io"
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
	defUpstream := "http://127.0.0.1:18190"
	if u := os.Getenv("DALLYPROXY_UPSTREAM"); u != "" {
		defUpstream = u // instructions.sh: bench/instructions runs servers with -listen only
	}
	upstream := flag.String("upstream", defUpstream, "origin URL (default from $DALLYPROXY_UPSTREAM when set)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here until SIGTERM/SIGINT (for looking, not for the figures)")
	memProfile := flag.String("memprofile", "", "write an allocation profile here at SIGTERM/SIGINT (for looking, not for the figures)")
	schedTarget := flag.Duration("schedtarget", 0, "server.Server.SchedTarget (0: the server's default; negative: no run bound)")
	exitOnEOF := flag.Bool("exit-on-eof", false, "exit (status 0) when stdin reaches EOF: callgrind (instructions.sh) needs a clean exit, not a signal")
	flag.Parse()
	var stops []func()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if *memProfile != "" {
		stops = append(stops, func() {
			f, err := os.Create(*memProfile)
			if err != nil {
				log.Print(err)
				return
			}
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		})
	}
	p, err := proxy.NewReverse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Addr: *listen, Handler: p, ConnState: p.ConnState, MaxRequestsPerConn: -1, SchedTarget: *schedTarget}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	exit := make(chan struct{}, 2)
	go func() { <-c; exit <- struct{}{} }()
	if *exitOnEOF {
		go func() { io.Copy(io.Discard, os.Stdin); exit <- struct{}{} }()
	}
	go func() {
		<-exit
		// What the server and the proxy saw, for reading the figures.
		st := srv.Stats()
		log.Printf("dallyproxy: server requests=%d accepted=%d pauses=%d runlimit=%d saturated=%v pressure=%.2f closed=%v; proxy %+v",
			st.Requests, st.Accepted, st.Pauses, st.RunLimit, st.Saturated, st.Pressure, st.Closed, p.Stats())
		for _, f := range stops {
			f()
		}
		os.Exit(0)
	}()
	log.Fatal(srv.ListenAndServe())
}
