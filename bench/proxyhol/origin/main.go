// Command origin is the upstream of the head-of-line benchmark: GET / is a
// 13-byte body; /trickle sends 10 MB slowly (64 KiB every 50 ms, about
// 1.3 MB/s, so it outlasts a run); /hang never answers (until the client
// leaves or 120 s pass); /big sends 10 MB as fast as the client reads.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const tenMB = 10 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:18190", "address to listen on")
	flag.Parse()
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Hello, World!"))
	})
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(tenMB))
		fl := w.(http.Flusher)
		for sent := 0; sent < tenMB; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			fl.Flush()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(120 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(tenMB))
		for sent := 0; sent < tenMB; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := &http.Server{Addr: *listen, Handler: mux}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-c; os.Exit(0) }()
	log.Fatal(srv.ListenAndServe())
}
