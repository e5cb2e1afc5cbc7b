// Command capture is the client of the capture-effect benchmark (the draft
// "HTTP Connection Management", §9: a few clients with many busy connections
// must not starve the others). It has three roles:
//
//	capture -role greedy  : -conns connections spread evenly over -addrs
//	                        source addresses 127.0.0.2, .3, ..., each writing
//	                        -depth pipelined GETs, reading the -depth
//	                        responses as they come, and writing again at once;
//	                        a connection the server closes is reopened at once.
//	capture -role polite  : -polite clients, client i from 127.0.1.(i+1), each
//	                        in a loop: connect, one GET, read the response,
//	                        close, sleep -think.
//	capture -role report  : reads the outputs of a polite run on the idle
//	                        server and of a polite and a greedy run under load
//	                        and prints one TSV row (see report).
//
// Greedy and polite runs measure over the same window [-start, -start +
// -duration] (Unix nanoseconds), so the caller starts them together and
// they stop by themselves: every read and write has that deadline.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/bench/capture/client"
)

func main() {
	role := flag.String("role", "", "greedy, polite, report or header (the report's column names)")
	target := flag.String("target", "127.0.0.1:18080", "server address")
	start := flag.Int64("start", 0, "Unix time (ns) at which the measured window opens; 0: now")
	duration := flag.Duration("duration", 10*time.Second, "measured window")
	warm := flag.Duration("warm", 0, "greedy: load before the window opens (not counted)")
	addrs := flag.Int("addrs", 4, "greedy: source addresses, 127.0.0.2 on")
	conns := flag.Int("conns", 200, "greedy: connections, spread evenly over -addrs")
	depth := flag.Int("depth", 16, "greedy: requests per pipelined write")
	polite := flag.Int("polite", 20, "polite: clients, one source address 127.0.1.x each")
	think := flag.Duration("think", 10*time.Millisecond, "polite: pause between requests")
	timeout := flag.Duration("timeout", 5*time.Second, "polite: bound on one request, connect included")
	idleOut := flag.String("idle", "", "report: polite output on the idle server")
	loadOut := flag.String("load", "", "report: polite output under load")
	greedyOut := flag.String("greedy", "", "report: greedy output")
	flag.Parse()
	log.SetPrefix(fmt.Sprintf("capture %s[%d]: ", *role, os.Getpid()))
	log.SetFlags(0)

	t0 := time.Now()
	if *start > 0 {
		t0 = time.Unix(0, *start)
	}
	w := window{from: t0, to: t0.Add(*duration)}
	switch *role {
	case "greedy":
		if *addrs < 1 || *addrs > 200 || *conns < *addrs || *depth < 1 {
			log.Fatal("need 1 <= addrs <= 200, conns >= addrs, depth >= 1")
		}
		runGreedy(*target, w, w.from.Add(-*warm), *addrs, *conns, *depth)
	case "polite":
		if *polite < 1 || *polite > 250 {
			log.Fatal("need 1 <= polite <= 250")
		}
		runPolite(*target, w, *polite, *think, *timeout)
	case "header":
		fmt.Println(reportHeader)
	case "report":
		if err := report(os.Stdout, *idleOut, *loadOut, *greedyOut); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("-role %q: want greedy, polite or report", *role)
	}
}

// window is the measured interval; responses completed outside it are not
// counted.
type window struct{ from, to time.Time }

func (w window) in(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

// counts is one client address's tally over the window.
type counts struct {
	ok, non200, errs, conns atomic.Int64
}

func dialFrom(src net.IP, target string, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Deadline: deadline}
	return d.Dial("tcp", target)
}

// runGreedy keeps conns connections pipelining until the window closes and
// prints, per source address, the 200s, other statuses, errors and
// connections opened within the window.
func runGreedy(target string, w window, begin time.Time, addrs, conns, depth int) {
	time.Sleep(time.Until(begin))
	tally := make([]counts, addrs)
	batch := []byte(strings.Repeat(client.Request, depth))
	var wg sync.WaitGroup
	for i := range conns {
		a := i % addrs
		src := net.IPv4(127, 0, 0, byte(2+a))
		wg.Add(1)
		go func() {
			defer wg.Done()
			greedyConn(target, src, w, batch, depth, &tally[a])
		}()
	}
	wg.Wait()
	for a := range tally {
		c := &tally[a]
		fmt.Printf("greedy 127.0.0.%d ok=%d non200=%d errors=%d conns=%d\n", 2+a, c.ok.Load(), c.non200.Load(), c.errs.Load(), c.conns.Load())
	}
}

func greedyConn(target string, src net.IP, w window, batch []byte, depth int, c *counts) {
	for time.Now().Before(w.to) {
		conn, err := dialFrom(src, target, w.to)
		if err != nil {
			if w.in(time.Now()) {
				c.errs.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if w.in(time.Now()) {
			c.conns.Add(1)
		}
		conn.SetDeadline(w.to)
		br := bufio.NewReaderSize(conn, 32<<10)
	pipelining:
		for {
			if _, err := conn.Write(batch); err != nil {
				break
			}
			for range depth {
				status, closing, err := client.ReadResponse(br)
				now := time.Now()
				if err != nil {
					// The server closed (the rest of the batch is lost) or
					// the window ended; an error after the window is none.
					if w.in(now) && !errors.Is(err, io.EOF) && !isDeadline(err) {
						c.errs.Add(1)
					}
					break pipelining
				}
				if w.in(now) {
					if status == 200 {
						c.ok.Add(1)
					} else {
						c.non200.Add(1)
					}
				}
				if closing {
					break pipelining
				}
			}
		}
		conn.Close()
	}
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// runPolite runs the polite clients over the window and prints, per
// client, its 200s, its failures and 503s, then the pooled latency
// percentiles of its successful requests (connect to last byte).
func runPolite(target string, w window, n int, think, timeout time.Duration) {
	time.Sleep(time.Until(w.from))
	type politeClient struct {
		ok, fail, s503 int
		lat            []time.Duration
	}
	clients := make([]politeClient, n)
	var wg sync.WaitGroup
	for i := range n {
		src := net.IPv4(127, 0, 1, byte(i+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &clients[i]
			for {
				t0 := time.Now()
				if !w.in(t0) {
					return
				}
				status, err := politeOne(target, src, t0.Add(timeout))
				d := time.Since(t0)
				switch {
				case err != nil:
					cl.fail++
				case status == 200:
					cl.ok++
					cl.lat = append(cl.lat, d)
				default:
					cl.fail++
					if status == 503 {
						cl.s503++
					}
				}
				time.Sleep(think)
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for i := range clients {
		cl := &clients[i]
		fmt.Printf("polite 127.0.1.%d ok=%d fail=%d s503=%d\n", i+1, cl.ok, cl.fail, cl.s503)
		all = append(all, cl.lat...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	fmt.Printf("latency n=%d p50_us=%.0f p99_us=%.0f max_us=%.0f seconds=%.3f\n", len(all),
		client.Micros(client.Quantile(all, 0.50)), client.Micros(client.Quantile(all, 0.99)), client.Micros(client.Quantile(all, 1)), w.to.Sub(w.from).Seconds())
}

// politeOne is one polite request on a new connection: connect, GET, read
// the response, close.
func politeOne(target string, src net.IP, deadline time.Time) (int, error) {
	conn, err := dialFrom(src, target, deadline)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, client.Request); err != nil {
		return 0, err
	}
	status, _, err := client.ReadResponse(bufio.NewReaderSize(conn, 4096))
	return status, err
}
