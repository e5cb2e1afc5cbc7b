// Command reqs sends a fixed number of keep-alive GET / requests to a bench
// server and checks every response: status 200, body "Hello, World!", and a
// connection that stays open. bench/run uses it to wait for a server to be
// ready, to learn the size of one response (to check wrk's counts against the
// bytes it read), and to drive an exact request count in bench/instructions.
//
// It prints one line: "ok requests=N conns=C response_bytes=B elapsed_s=T".
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

var want = []byte("Hello, World!")

func main() {
	target := flag.String("target", "127.0.0.1:8080", "server address")
	n := flag.Int("n", 1, "requests to send in all; 0 only waits for the server to accept (with -wait)")
	c := flag.Int("c", 1, "keep-alive connections the requests are spread over")
	wait := flag.Duration("wait", 0, "keep retrying the first connection for this long (server starting up)")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole run")
	depth := flag.Int("pipeline", 1, "requests written at once on a connection before their responses are read")
	flag.Parse()
	log.SetPrefix("reqs: ")
	log.SetFlags(0)
	if *n < 0 || *n > 0 && (*c < 1 || *n < *c) {
		log.Fatalf("need -n 0 (only wait) or 1 <= -c <= -n, got -c %d -n %d", *c, *n)
	}
	if *depth < 1 || *depth > 1024 {
		log.Fatalf("need 1 <= -pipeline <= 1024, got %d", *depth)
	}

	start := time.Now()
	deadline := start.Add(*timeout)
	if *wait > 0 {
		if err := waitReady(*target, start.Add(*wait)); err != nil {
			log.Fatal(err)
		}
	}

	if *n == 0 {
		fmt.Printf("ok requests=0 conns=0 response_bytes=0 elapsed_s=%.3f\n", time.Since(start).Seconds())
		return
	}

	var mu sync.Mutex
	var firstErr error
	respBytes := 0
	var wg sync.WaitGroup
	for i := range *c {
		share := *n / *c
		if i < *n%*c {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			size, err := run(*target, share, *depth, deadline)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			respBytes = size
		}()
	}
	wg.Wait()
	if firstErr != nil {
		log.Fatal(firstErr)
	}
	fmt.Printf("ok requests=%d conns=%d response_bytes=%d elapsed_s=%.3f\n",
		*n, *c, respBytes, time.Since(start).Seconds())
}

// waitReady dials until the server accepts or the deadline passes; the
// connection is closed at once, without a request, so it adds no request
// to the counts of bench/instructions.
func waitReady(target string, deadline time.Time) error {
	for {
		conn, err := net.DialTimeout("tcp", target, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting: %w", target, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countingConn counts bytes read so the size of one response on the wire is
// known exactly.
type countingConn struct {
	net.Conn
	n int
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += n
	return n, err
}

// run sends n requests on one connection, depth at a time (one write, then
// their responses), and returns the size of the last response in bytes.
func run(target string, n, depth int, deadline time.Time) (int, error) {
	raw, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	raw.SetDeadline(deadline)
	conn := &countingConn{Conn: raw}
	br := bufio.NewReader(conn)
	one := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	batch := bytes.Repeat(one, depth)
	size := 0
	for i := range n {
		before := conn.n - br.Buffered()
		if i%depth == 0 {
			k := min(depth, n-i)
			if _, err := raw.Write(batch[:k*len(one)]); err != nil {
				return 0, fmt.Errorf("request %d: %w", i, err)
			}
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, fmt.Errorf("response %d: %w", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("response %d body: %w", i, err)
		}
		switch {
		case resp.StatusCode != 200:
			return 0, fmt.Errorf("response %d: status %d", i, resp.StatusCode)
		case !bytes.Equal(body, want):
			return 0, fmt.Errorf("response %d: body %q, want %q", i, body, want)
		case resp.Close:
			return 0, errors.New("server closed a keep-alive connection")
		}
		size = conn.n - br.Buffered() - before
	}
	return size, nil
}
