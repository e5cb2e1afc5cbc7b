// Command srv is the server of the capture and shedding benchmarks when
// they need what the plain anchors in bench/servers do not offer: a handler
// that costs CPU (-spin), dally's connection limit and shed policy
// (-max-conns, -shed), and dally's policy counters written at exit
// (-stats), which say whether the policy engaged at all. It serves the same
// 13-byte body with the same head fields as bench/servers on every path.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/server"
)

var body = []byte("Hello, World!")

// spin burns d of CPU on this goroutine: a handler that computes, not one
// that sleeps, so the server's CPU is what saturates.
func spin(d time.Duration) {
	if d <= 0 {
		return
	}
	for t := time.Now(); time.Since(t) < d; {
	}
}

func handler(cost time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		spin(cost)
		h := w.Header()
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		w.Write(body)
	})
}

func main() {
	impl := flag.String("impl", "dally", "dally or nethttp")
	listen := flag.String("listen", "127.0.0.1:18090", "address to listen on")
	cost := flag.Duration("spin", 0, "CPU time each request costs in the handler")
	maxConns := flag.Int("max-conns", 0, "dally: MaxConns (0: the default, from RLIMIT_NOFILE)")
	shed := flag.String("shed", "lru", "dally: ShedPolicy, lru or random")
	minIdle := flag.Duration("min-idle", 0, "dally: MinIdleWindow (0: the default, 2 s)")
	maxWorkers := flag.Int("max-workers", 0, "dally: MaxWorkers (0: the default, 10000)")
	schedTarget := flag.Duration("sched-target", 0, "dally: SchedTarget (0: the default, 2 ms; negative: no run bound)")
	noGreedy := flag.Bool("no-greedy-control", false, "dally: DisableGreedyControl (to see what pausing costs)")
	stats := flag.String("stats", "", "dally: write server.Stats as JSON to this file at exit")
	flag.Parse()

	var srv *server.Server
	var serve func(net.Listener) error
	switch *impl {
	case "dally":
		srv = &server.Server{
			// Like bench/servers/dally: no end after N requests.
			MaxRequestsPerConn:   -1,
			MaxConns:             *maxConns,
			Handler:              handler(*cost),
			MaxWorkers:           *maxWorkers,
			MinIdleWindow:        *minIdle,
			DisableGreedyControl: *noGreedy,
			SchedTarget:          *schedTarget,
		}
		switch *shed {
		case "lru":
			srv.ShedPolicy = server.ShedLRU
		case "random":
			srv.ShedPolicy = server.ShedRandom
		default:
			log.Fatalf("-shed %q: want lru or random", *shed)
		}
		serve = srv.Serve
	case "nethttp":
		// Like bench/servers/nethttp.
		hs := &http.Server{Handler: handler(*cost), IdleTimeout: 75 * time.Second}
		serve = hs.Serve
	default:
		log.Fatalf("-impl %q: want dally or nethttp", *impl)
	}

	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-c
		if srv != nil && *stats != "" {
			b, _ := json.Marshal(srv.Stats())
			os.WriteFile(*stats, append(b, '\n'), 0o644)
		}
		os.Exit(0)
	}()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ready pid=%d listen=%s server=%s spin=%v max-conns=%d shed=%s\n", os.Getpid(), ln.Addr(), *impl, *cost, *maxConns, *shed)
	log.Fatal(serve(ln))
}
