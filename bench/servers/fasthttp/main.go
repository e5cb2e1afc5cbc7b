// Command fasthttp is the fasthttp anchor for dally's benchmarks: it serves
// the same 13-byte body as every other server in bench/ on GET /.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
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
	listen := flag.String("listen", "127.0.0.1:8082", "address to listen on")
	exitOnEOF := flag.Bool("exit-on-eof", false, "exit when stdin reaches EOF")
	flag.Parse()
	exitCleanly(*exitOnEOF)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBody(body)
		},
		// Same idle timeout as the nginx anchor so idle connections live
		// equally long everywhere.
		IdleTimeout: 75 * time.Second,
	}
	fmt.Printf("ready pid=%d listen=%s server=fasthttp\n", os.Getpid(), ln.Addr())
	log.Fatal(srv.Serve(ln))
}
