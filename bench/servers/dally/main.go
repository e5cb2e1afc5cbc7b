// Command dally is dally's own server in the benchmarks, serving the same
// 13-byte body as the anchors on GET /. It lives in its own directory so that
// the anchors still build while dally's server package is being written.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"

	"github.com/dallyhttp/dally/server"
)

var body = []byte("Hello, World!")

var stopProfile = func() {}

// exitCleanly makes SIGTERM and SIGINT an exit(0) and, with -exit-on-eof,
// so is the end of stdin. bench/instructions needs the latter: callgrind
// (valgrind 3.19) dies on an assertion when a signal reaches a Go program,
// and only a clean exit writes its counts.
func exitCleanly(onEOF bool) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-c
		stopProfile()
		os.Exit(0)
	}()
	if onEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	exitOnEOF := flag.Bool("exit-on-eof", false, "exit when stdin reaches EOF")
	schedTarget := flag.Duration("schedtarget", 0, "server.Server.SchedTarget (0: the server's default; negative: no run bound)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here until SIGTERM/SIGINT (for looking, not for the figures)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
	exitCleanly(*exitOnEOF)

	srv := &server.Server{
		Addr: *listen,
		// The anchors do not end connections after N requests (nginx is
		// configured with a high keepalive_requests); neither does dally here.
		MaxRequestsPerConn: -1,
		SchedTarget:        *schedTarget,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
			w.Write(body)
		}),
	}
	// server.Server listens inside ListenAndServe, so this line comes before
	// the socket exists: bench/run waits for a real response, not this line.
	fmt.Printf("ready pid=%d listen=%s server=dally\n", os.Getpid(), *listen)
	log.Fatal(srv.ListenAndServe())
}
