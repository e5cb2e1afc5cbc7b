// Command nethttp is the Go net/http anchor for dally's benchmarks: it serves
// the same 13-byte body as every other server in bench/ on GET /.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

var body = []byte("Hello, World!")

// exitCleanly makes SIGTERM and SIGINT an exit(0) and, with -exit-on-eof,
// so is the end of stdin. bench/instructions needs the latter: callgrind
// (valgrind 3.19) dies on an assertion when a signal reaches a Go program,
// and only a clean exit writes its counts.
func exitCleanly(onEOF bool) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-c
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
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	exitOnEOF := flag.Bool("exit-on-eof", false, "exit when stdin reaches EOF")
	flag.Parse()
	exitCleanly(*exitOnEOF)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			// Set both explicitly so net/http neither sniffs nor chunks:
			// every anchor sends the same head fields for the same body.
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
			w.Write(body)
		}),
		// Same idle timeout as the nginx anchor so idle connections live
		// equally long everywhere.
		IdleTimeout: 75 * time.Second,
	}
	// The ready line comes after Listen so a reader of it can connect at once.
	fmt.Printf("ready pid=%d listen=%s server=nethttp\n", os.Getpid(), ln.Addr())
	log.Fatal(srv.Serve(ln))
}
