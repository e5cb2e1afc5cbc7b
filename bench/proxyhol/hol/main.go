// Command hol measures head-of-line coupling through a proxy. Client B
// sends GET / one request at a time on each of -b-conns keep-alive
// connections for -d and records every latency; meanwhile -a-conns
// clients A, each on its own connection, do -a (none, trickle: the
// upstream trickles 10 MB; hang: the upstream never answers; slowread: A
// reads a fast 10 MB body at 64 KiB/s). It prints one line:
//
//	HOL a=MODE n=N errors=E p50_us=.. p90_us=.. p99_us=.. max_us=.. a_started=K
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("target", "127.0.0.1:18191", "proxy address")
	mode := flag.String("a", "none", "what clients A do: none, trickle, hang, slowread")
	aConns := flag.Int("a-conns", 8, "clients A")
	bConns := flag.Int("b-conns", 4, "connections of client B")
	dur := flag.Duration("d", 10*time.Second, "how long B measures")
	flag.Parse()

	stop := make(chan struct{})
	var aStarted atomic.Int64
	var aConnsOpen []net.Conn
	if *mode != "none" {
		path := map[string]string{"trickle": "/trickle", "hang": "/hang", "slowread": "/big"}[*mode]
		if path == "" {
			fmt.Fprintln(os.Stderr, "hol: -a must be none, trickle, hang or slowread")
			os.Exit(2)
		}
		for i := 0; i < *aConns; i++ {
			c, err := net.Dial("tcp", *target)
			if err != nil {
				fmt.Fprintln(os.Stderr, "hol: A:", err)
				os.Exit(1)
			}
			// A small receive buffer so that a slow reader's window closes.
			c.(*net.TCPConn).SetReadBuffer(64 << 10)
			aConnsOpen = append(aConnsOpen, c)
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: origin\r\n\r\n", path)
			aStarted.Add(1)
			go func() {
				buf := make([]byte, 4096)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if *mode == "slowread" {
						time.Sleep(62 * time.Millisecond) // 4 KiB per 62 ms: 64 KiB/s
					}
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(500 * time.Millisecond) // A's requests are in flight upstream
	}

	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(*dur)
	for i := 0; i < *bConns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			defer func() { mu.Lock(); lat = append(lat, local...); mu.Unlock() }()
			c, err := net.Dial("tcp", *target)
			if err != nil {
				errs.Add(1)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET / HTTP/1.1\r\nHost: origin\r\n\r\n")
			for time.Now().Before(end) {
				start := time.Now()
				c.SetDeadline(start.Add(10 * time.Second))
				if _, err := c.Write(req); err != nil {
					errs.Add(1)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs.Add(1)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					errs.Add(1)
					return
				}
				local = append(local, time.Since(start))
				// Paced, not flat out: the question is latency, not throughput.
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(stop)
	for _, c := range aConnsOpen {
		c.Close()
	}
	slices.Sort(lat)
	q := func(p float64) int64 {
		if len(lat) == 0 {
			return -1
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()
	}
	fmt.Printf("HOL a=%s n=%d errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d a_started=%d\n",
		*mode, len(lat), errs.Load(), q(0.50), q(0.90), q(0.99), q(1), aStarted.Load())
}
