// Command clientbench measures HTTP/1.1 clients side by side against one
// fixed-response server on loopback: dally's client (plain and
// pipelined), Go's http.Transport, and fasthttp's HostClient and
// PipelineClient. Rounds interleave the clients; the report gives medians
// of requests per second and of allocations and bytes per request, and
// ratios to http.Transport.
//
//	go run ./clientbench -d 3s -rounds 5 -c 16 -conns 4
//	go run ./clientbench -idlemem 5000   # bytes per idle pooled connection
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/dallyhttp/dally/client"
	"github.com/valyala/fasthttp"
)

var (
	dur      = flag.Duration("d", 3*time.Second, "duration of each client's run per round")
	rounds   = flag.Int("rounds", 5, "rounds (clients interleaved, order rotated)")
	conc     = flag.Int("c", 16, "concurrent requesting goroutines")
	conns    = flag.Int("conns", 4, "connections per host for every client")
	depth    = flag.Int("depth", 8, "pipeline depth for the pipelined clients")
	only     = flag.String("clients", "dally,dally-pipe,nethttp,fasthttp,fasthttp-pipe", "clients to run")
	idlemem  = flag.Int("idlemem", 0, "measure memory per idle pooled connection with this many connections, then exit")
	serve    = flag.String("serve", "", "internal: run the fixed server on this address (child process)")
	delayArg = flag.Duration("delay", 0, "internal: the child server's delay before each response")
)

const response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 03 Dec 2026 16:00:00 GMT\r\nContent-Length: 13\r\n\r\nHello, World!"

// fixedServer answers every request head it reads with response and
// allocates nothing per request; it answers pipelined heads in order.
func fixedServer(ln net.Listener, delay time.Duration) {
	out := []byte(response)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 16<<10)
			wbuf := make([]byte, 0, 16<<10)
			n := 0
			for {
				m, err := c.Read(buf[n:])
				if err != nil {
					return
				}
				n += m
				wbuf = wbuf[:0]
				for {
					i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
					if i < 0 {
						break
					}
					copy(buf, buf[i+4:n])
					n -= i + 4
					wbuf = append(wbuf, out...)
				}
				if delay > 0 {
					time.Sleep(delay)
				}
				if len(wbuf) > 0 {
					if _, err := c.Write(wbuf); err != nil {
						return
					}
				}
			}
		}()
	}
}

type doer func() error

func makeClient(name, addr string) (doer, func()) {
	url := "http://" + addr + "/"
	switch name {
	case "dally", "dally-pipe":
		tr := &client.Transport{MaxConnsPerHost: *conns}
		if name == "dally-pipe" {
			tr.MaxPipelineDepth = *depth
		}
		return netDoer(tr, url), tr.CloseIdleConnections
	case "nethttp":
		tr := &http.Transport{MaxConnsPerHost: *conns, MaxIdleConnsPerHost: *conns, DisableCompression: true}
		return netDoer(tr, url), tr.CloseIdleConnections
	case "fasthttp":
		hc := &fasthttp.HostClient{Addr: addr, MaxConns: *conns, MaxConnWaitTimeout: 10 * time.Second}
		return fastDoer(hc.Do, url), hc.CloseIdleConnections
	case "fasthttp-pipe":
		pc := &fasthttp.PipelineClient{Addr: addr, MaxConns: *conns, MaxPendingRequests: *conns * *depth * 4}
		return fastDoer(pc.Do, url), func() {}
	}
	log.Fatalf("unknown client %q", name)
	return nil, nil
}

func netDoer(rt http.RoundTripper, url string) doer {
	hc := &http.Client{Transport: rt}
	return func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		var buf [64]byte
		n, err := io.ReadFull(resp.Body, buf[:13])
		resp.Body.Close()
		if n != 13 {
			return fmt.Errorf("short body: %v", err)
		}
		return nil
	}
}

func fastDoer(do func(*fasthttp.Request, *fasthttp.Response) error, url string) doer {
	return func() error {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		if err := do(req, resp); err != nil {
			return err
		}
		if len(resp.Body()) != 13 {
			return fmt.Errorf("short body")
		}
		return nil
	}
}

type sample struct {
	rps, allocs, bytes float64
	errs               int64
}

func runOne(name, addr string) sample {
	do, closeIdle := makeClient(name, addr)
	defer closeIdle()
	for i := 0; i < 100; i++ { // warm: connections and pools
		do()
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	var n, errs atomic.Int64
	stop := time.Now().Add(*dur)
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < *conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := do(); err != nil {
					errs.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	k := float64(n.Load())
	return sample{rps: k / el.Seconds(), allocs: float64(m1.Mallocs-m0.Mallocs) / k,
		bytes: float64(m1.TotalAlloc-m0.TotalAlloc) / k, errs: errs.Load()}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func main() {
	flag.Parse()
	if *serve != "" {
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			log.Fatal(err)
		}
		fixedServer(ln, *delayArg)
		return
	}
	if *idlemem > 0 {
		idleMem(*idlemem)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go fixedServer(ln, 0)
	addr := ln.Addr().String()
	names := strings.Split(*only, ",")
	res := map[string][]sample{}
	for r := 0; r < *rounds; r++ {
		for i := range names {
			name := names[(i+r)%len(names)]
			s := runOne(name, addr)
			res[name] = append(res[name], s)
			fmt.Fprintf(os.Stderr, "round %d %-14s %9.0f req/s %6.1f allocs/req %7.0f B/req errors %d\n", r+1, name, s.rps, s.allocs, s.bytes, s.errs)
		}
	}
	med := func(name string, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range res[name] {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	base := med("nethttp", func(s sample) float64 { return s.rps })
	baseA := med("nethttp", func(s sample) float64 { return s.allocs })
	fmt.Printf("\nclientbench: %d goroutines, %d connections per host, pipeline depth %d, %v x %d rounds, GOMAXPROCS %d\n\n",
		*conc, *conns, *depth, *dur, *rounds, runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "client\treq/s (median)\tvs net/http\tallocs/req\tvs net/http\tbytes/req\terrors")
	for _, name := range names {
		rps := med(name, func(s sample) float64 { return s.rps })
		al := med(name, func(s sample) float64 { return s.allocs })
		var errs int64
		for _, s := range res[name] {
			errs += s.errs
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.1f\t%.2f\t%.0f\t%d\n", name, rps, rps/base, al, al/baseA,
			med(name, func(s sample) float64 { return s.bytes }), errs)
	}
	tw.Flush()
}

// idleMem opens n pooled connections to a child-process server, lets them
// go idle, and reports Go heap and RSS growth per connection, for dally's
// Transport and http.Transport.
func idleMem(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	child := exec.Command(os.Args[0], "-serve", addr, "-delay", "1s")
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			log.Fatal("child server not up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("idlemem: %d idle pooled connections per client (server in a child process)\n\n", n)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "client\tidle conns\tgoroutines/conn\tGo heap B/conn\tRSS B/conn")
	for _, name := range []string{"dally", "nethttp"} {
		var rt http.RoundTripper
		var closeIdle func()
		switch name {
		case "dally":
			tr := &client.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}
			rt, closeIdle = tr, tr.CloseIdleConnections
		case "nethttp":
			tr := &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n, MaxIdleConns: n, DisableCompression: true}
			rt, closeIdle = tr, tr.CloseIdleConnections
		}
		hc := &http.Client{Transport: rt}
		url := "http://" + addr + "/"
		hc.Get(url) // warm what is per transport, not per connection
		debug.FreeOSMemory()
		h0, r0, g0 := heap(), rss(), runtime.NumGoroutine()
		var wg sync.WaitGroup
		var fails atomic.Int64
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := hc.Get(url)
				if err != nil {
					fails.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
		time.Sleep(500 * time.Millisecond)
		runtime.GC() // twice: pooled buffers sit in sync.Pool's victim cache for one GC
		runtime.GC()
		debug.FreeOSMemory()
		h1, r1, g1 := heap(), rss(), runtime.NumGoroutine()
		if f := os.Getenv("CLIENTBENCH_HEAPPROFILE"); f != "" {
			out, _ := os.Create(f + "." + name)
			pprof.WriteHeapProfile(out)
			out.Close()
		}
		k := float64(n - int(fails.Load()))
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.0f\t%.0f\n", name, k, float64(g1-g0)/k, float64(h1-h0)/k, float64(r1-r0)/k)
		closeIdle()
		time.Sleep(200 * time.Millisecond)
	}
	tw.Flush()
}

func heap() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

func rss() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
