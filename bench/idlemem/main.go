// Command idlemem is the client half of the idle-memory benchmark: it opens
// -n keep-alive connections to -target, sends one GET / on each and reads the
// response, then holds them all idle so the caller can read the server's
// memory. It prints one line "idle N" when every connection is idle, and
// releases them when stdin reaches EOF or -hold elapses, whichever is first.
//
// Connections are spread over source addresses 127.0.0.S, 127.0.0.S+1, ...
// (-per-src each) so no single source address runs out of ephemeral ports;
// one process holds at most -n descriptors, and this machine allows ~20,000
// per process, so bench/idlemem/idlemem.sh runs several of these for large N.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("target", "127.0.0.1:8080", "server address")
	n := flag.Int("n", 1000, "connections to open and hold")
	srcFirst := flag.Int("src-first", 2, "last octet of the first source address 127.0.0.X")
	perSrc := flag.Int("per-src", 1000, "connections per source address")
	par := flag.Int("parallel", 64, "connections being opened at once (bounded so the listen backlog never overflows)")
	hold := flag.Duration("hold", 5*time.Minute, "longest time to hold the connections idle")
	timeout := flag.Duration("timeout", 60*time.Second, "bound on opening all connections")
	flag.Parse()
	log.SetPrefix(fmt.Sprintf("idlemem[%d]: ", os.Getpid()))
	log.SetFlags(0)

	if *srcFirst + (*n-1) / *perSrc > 254 {
		log.Fatalf("%d connections at %d per source from 127.0.0.%d run past 127.0.0.254", *n, *perSrc, *srcFirst)
	}

	conns := make([]net.Conn, *n)
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, *par)
	var wg sync.WaitGroup
	deadline := time.Now().Add(*timeout)
	for i := range *n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(*srcFirst + i / *perSrc))}
			c, err := openOne(*target, src, deadline)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		log.Fatalf("%d of %d connections failed; first: %v", f, *n, firstErr.Load())
	}
	fmt.Printf("idle %d\n", *n)

	// Hold until the caller closes stdin (it has read the server's memory) or
	// the bound passes, so a forgotten client never lingers.
	released := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(released)
	}()
	select {
	case <-released:
	case <-time.After(*hold):
		log.Printf("hold of %v elapsed", *hold)
	}

	// Count the connections the server closed while they were idle: a server
	// that sheds idle connections would otherwise look cheap for free.
	open := 0
	buf := make([]byte, 1)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			open++
		}
		c.Close()
	}
	fmt.Printf("still_open %d\n", open)
}

// openOne dials target from src, sends one keep-alive GET / and reads the
// whole response, leaving the connection idle.
func openOne(target string, src *net.TCPAddr, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{LocalAddr: src, Deadline: deadline}
	c, err := d.Dial("tcp", target)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	// A small reader: the response is ~150 bytes and this client's memory is
	// not what is measured, but 19,000 default 4 KiB readers add up.
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && (resp.StatusCode != 200 || resp.Close) {
		err = fmt.Errorf("status %d, close=%v: not an idle keep-alive connection", resp.StatusCode, resp.Close)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
