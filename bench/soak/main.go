// Command soak puts mixed, bounded load on a running `dally serve` (the
// demo site) for a while and samples the server's memory, threads and
// descriptors from /proc every few seconds into a TSV, so that a leak shows
// as a slope. Load: keep-alive clients, one-request-per-connection clients,
// pipelined bursts, slow heads (slowloris, cut by the server with 408),
// slow bodies and slow readers, plus one probe whose latency is reported.
//
//	soak -addr 127.0.0.1:18090 -pid PID -d 30m -out soak.tsv [-metrics http://127.0.0.1:9090/metrics]
//
// Run by bench/soak/soak.sh, which builds and starts the server.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type counts struct {
	ok, errs, conns, timeouts408 atomic.Int64
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "server address (dally serve, demo site)")
	pid := flag.Int("pid", 0, "server PID to sample from /proc (0: no server samples)")
	d := flag.Duration("d", 30*time.Minute, "how long to run")
	every := flag.Duration("every", 5*time.Second, "sampling interval")
	out := flag.String("out", "soak.tsv", "TSV of samples")
	keepalive := flag.Int("keepalive", 32, "keep-alive clients")
	closers := flag.Int("close", 8, "clients that open a connection per request")
	pipelined := flag.Int("pipelined", 8, "clients that send bursts of 16 pipelined requests")
	slow := flag.Int("slow", 24, "slow clients (slow heads, slow bodies, slow readers in turn)")
	idle := flag.Int("idle", 500, "keep-alive connections that send one request every 20 s and idle between")
	settle := flag.Duration("settle", 35*time.Second, "wait after the load before the last sample (the server's parked workers exit after 30 s)")
	metrics := flag.String("metrics", "", "optional URL of a Prometheus text endpoint whose go_goroutines is sampled")
	flag.Parse()

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *d)
	defer cancel()

	var c counts
	var wg sync.WaitGroup
	spawn := func(n int, fn func(context.Context, string, int, *counts)) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); fn(ctx, *addr, i, &c) }()
		}
	}
	// The server before any load: the baseline "after the load" returns to.
	fmt.Fprintln(f, "t_s\trss_kb\tthreads\tfds\tgoroutines\trequests\terrors\tconns\tslow_408\tprobe_p50_us\tprobe_p99_us\tprobe_max_us")
	base, baseG := sample(*pid), goroutines(*metrics)
	fmt.Fprintf(f, "0\t%d\t%d\t%d\t%s\t0\t0\t0\t0\t0\t0\t0\n", base.rssKB, base.threads, base.fds, baseG)
	spawn(*idle, idleClient)
	spawn(*keepalive, keepAliveClient)
	spawn(*closers, closeClient)
	spawn(*pipelined, pipelinedClient)
	spawn(*slow, slowClient)

	start := time.Now()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	var lat []time.Duration
	var rows []row
	probe := time.NewTicker(100 * time.Millisecond)
	defer probe.Stop()
	pc := &client{addr: *addr}
	var probeErrs int
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-probe.C:
			t0 := time.Now()
			if err := pc.get("/"); err != nil {
				probeErrs++
				pc.close()
				continue
			}
			lat = append(lat, time.Since(t0))
		case <-tick.C:
			s := sample(*pid)
			g := goroutines(*metrics)
			p50, p99, pmax := percentiles(lat)
			lat = lat[:0]
			gn, err := strconv.Atoi(g)
			if err != nil {
				gn = -1
			}
			rows = append(rows, row{s, gn, p99})
			fmt.Fprintf(f, "%.0f\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", time.Since(start).Seconds(),
				s.rssKB, s.threads, s.fds, g, c.ok.Load(), c.errs.Load(), c.conns.Load(), c.timeouts408.Load(),
				p50.Microseconds(), p99.Microseconds(), pmax.Microseconds())
		}
	}
	wg.Wait()
	pc.close()
	// A last sample after the load has gone: what the server gives back.
	time.Sleep(*settle)
	s, sG := sample(*pid), goroutines(*metrics)
	fmt.Fprintf(f, "%.0f\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t0\t0\t0\n", time.Since(start).Seconds(),
		s.rssKB, s.threads, s.fds, sG, c.ok.Load(), c.errs.Load(), c.conns.Load(), c.timeouts408.Load())
	summary(base, baseG, rows, s, sG)
	errKinds.Lock()
	log.Printf("soak: client errors by kind: %v", errKinds.m)
	errKinds.Unlock()
	log.Printf("soak: %v: %d requests, %d client errors, %d connections, %d slow heads cut (408), probe errors %d",
		*d, c.ok.Load(), c.errs.Load(), c.conns.Load(), c.timeouts408.Load(), probeErrs)
}

type procSample struct{ rssKB, threads, fds int }

func sample(pid int) procSample {
	var s procSample
	if pid == 0 {
		return s
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			fs := strings.Fields(v)
			if len(fs) == 0 {
				continue
			}
			n, _ := strconv.Atoi(fs[0])
			switch k {
			case "VmRSS":
				s.rssKB = n
			case "Threads":
				s.threads = n
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(ents)
	}
	return s
}

// goroutines reads go_goroutines from a Prometheus text endpoint, "-"
// when there is none.
func goroutines(url string) string {
	if url == "" {
		return "-"
	}
	// No keep-alive: a held connection would be one more server descriptor.
	cl := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get(url)
	if err != nil {
		return "-"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			return v
		}
	}
	return "-"
}

func percentiles(d []time.Duration) (p50, p99, pmax time.Duration) {
	if len(d) == 0 {
		return
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

// client is one keep-alive connection that redials when it breaks.
type client struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	// partial is how many responses a burst got before errClosedEarly.
	partial int
}

func (cl *client) dial() error {
	if cl.c != nil {
		return nil
	}
	c, err := net.DialTimeout("tcp", cl.addr, 5*time.Second)
	if err != nil {
		return err
	}
	cl.c, cl.br = c, bufio.NewReader(c)
	return nil
}

func (cl *client) close() {
	if cl.c != nil {
		cl.c.Close()
		cl.c = nil
	}
}

// do sends raw requests and reads n responses. A reused connection that
// fails before the first response byte is retried once on a new one: the
// server may have closed it while idle (the race every keep-alive client
// handles this way, RFC 9112 §9.3.1).
func (cl *client) do(raw string, n int, method string) error {
	reused := cl.c != nil
	err := cl.try(raw, n, method)
	if err == errBeforeResponse && reused {
		err = cl.try(raw, n, method)
	}
	return err
}

var (
	errBeforeResponse = errors.New("connection closed before any response")
	errClosedEarly    = errors.New("closed mid-pipeline with Connection: close")
)

func (cl *client) try(raw string, n int, method string) error {
	if err := cl.dial(); err != nil {
		return err
	}
	cl.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(cl.c, raw); err != nil {
		cl.close()
		return err
	}
	for i := 0; i < n; i++ {
		if i == 0 {
			if _, err := cl.br.Peek(1); err != nil {
				cl.close()
				return errBeforeResponse
			}
		}
		resp, err := http.ReadResponse(cl.br, &http.Request{Method: method})
		if err != nil {
			cl.close()
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			cl.close()
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		if resp.Close {
			cl.close()
			if i < n-1 {
				// MaxRequestsPerConn ends the connection mid-burst
				// (Connection: close): the rest were not served, which is
				// correct (RFC 9112 §9.6); the client sends them again.
				cl.partial = i + 1
				return errClosedEarly
			}
		}
	}
	return nil
}

func (cl *client) get(path string) error {
	return cl.do("GET "+path+" HTTP/1.1\r\nHost: soak\r\n\r\n", 1, "GET")
}

// errKinds counts client errors by kind, for the final log line.
var errKinds struct {
	sync.Mutex
	m map[string]int
}

func noteErr(err error) {
	k := err.Error()
	if i := strings.LastIndex(k, ": "); i >= 0 {
		k = k[i+2:]
	}
	errKinds.Lock()
	if errKinds.m == nil {
		errKinds.m = map[string]int{}
	}
	errKinds.m[k]++
	errKinds.Unlock()
}

func count(c *counts, n int, err error) {
	if err != nil {
		c.errs.Add(1)
		noteErr(err)
		return
	}
	c.ok.Add(int64(n))
}

var paths = []string{"/", "/bytes/100", "/bytes/16384", "/chunked/5", "/echo", "/status/404"}

func keepAliveClient(ctx context.Context, addr string, i int, c *counts) {
	cl := &client{addr: addr}
	defer cl.close()
	for k := i; ctx.Err() == nil; k++ {
		if cl.c == nil {
			c.conns.Add(1)
		}
		count(c, 1, cl.get(paths[k%len(paths)]))
	}
}

func closeClient(ctx context.Context, addr string, i int, c *counts) {
	for k := i; ctx.Err() == nil; k++ {
		cl := &client{addr: addr}
		c.conns.Add(1)
		count(c, 1, cl.do("GET "+paths[k%len(paths)]+" HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", 1, "GET"))
		cl.close()
	}
}

func pipelinedClient(ctx context.Context, addr string, i int, c *counts) {
	var b strings.Builder
	for k := 0; k < 16; k++ {
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: soak\r\n\r\n", paths[k%3])
	}
	burst := b.String()
	cl := &client{addr: addr}
	defer cl.close()
	for ctx.Err() == nil {
		if cl.c == nil {
			c.conns.Add(1)
		}
		if err := cl.do(burst, 16, "GET"); err == errClosedEarly {
			c.ok.Add(int64(cl.partial))
		} else {
			count(c, 16, err)
		}
	}
}

// slowClient takes turns at three hostile shapes, each bounded in time.
func slowClient(ctx context.Context, addr string, i int, c *counts) {
	for k := i; ctx.Err() == nil; k++ {
		c.conns.Add(1)
		var err error
		switch k % 3 {
		case 0:
			err = slowHead(ctx, addr, c)
		case 1:
			err = slowBody(ctx, addr)
		case 2:
			err = slowRead(ctx, addr)
		}
		if err != nil && ctx.Err() == nil {
			c.errs.Add(1)
			noteErr(err)
		} else if err == nil {
			c.ok.Add(1)
		}
	}
}

// slowHead sends a head at 10 bytes/s: below the server's minimum rate, so
// the server answers 408 after its grace; that is the expected outcome.
func slowHead(ctx context.Context, addr string, c *counts) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	head := "GET / HTTP/1.1\r\nHost: soak\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"
	go func() {
		for j := 0; j < len(head) && ctx.Err() == nil; j++ {
			if _, err := conn.Write([]byte{head[j]}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == 408 {
		c.timeouts408.Add(1)
		return nil
	}
	return fmt.Errorf("slow head: status %d", resp.StatusCode)
}

// slowBody posts 2 KiB at 300 bytes/s to /echo: slow, but above the
// server's default MinBodyRate (256 bytes/s), so it must be read whole.
func slowBody(ctx context.Context, addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	const n = 2048
	fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n", n)
	chunk := []byte(strings.Repeat("b", 150))
	for sent := 0; sent < n && ctx.Err() == nil; sent += len(chunk) {
		if sent+len(chunk) > n {
			chunk = chunk[:n-sent]
		}
		if _, err := conn.Write(chunk); err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return nil
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "body: 2048 bytes") {
		return fmt.Errorf("slow body: echo %q", body)
	}
	return nil
}

// slowRead asks for 4 MiB and reads it at 64 KiB/s for a few seconds,
// then leaves: the server must not hold more than the socket buffers.
func slowRead(ctx context.Context, addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(8 << 10)
	io.WriteString(conn, "GET /bytes/4194304 HTTP/1.1\r\nHost: soak\r\n\r\n")
	buf := make([]byte, 8<<10)
	for j := 0; j < 40 && ctx.Err() == nil; j++ {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return err
		}
		time.Sleep(125 * time.Millisecond)
	}
	return nil
}

// idleClient holds a keep-alive connection that sends a request every 20 s:
// mostly idle, in the server's idle list, reopened when the server closes it.
func idleClient(ctx context.Context, addr string, i int, c *counts) {
	cl := &client{addr: addr}
	defer cl.close()
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for {
		if cl.c == nil {
			c.conns.Add(1)
		}
		count(c, 1, cl.get("/"))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type row struct {
	procSample
	goroutines int // -1: not sampled
	p99        time.Duration
}

// summary prints the server before the load, the first sample, the medians of the second and the last
// fifth of the run, and the sample taken after the load left: a leak shows
// as a last fifth above the second, and as an "after" above the first.
func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func summary(base procSample, baseG string, rows []row, after procSample, afterG string) {
	if len(rows) < 5 {
		fmt.Printf("soak: %d samples, too few for a summary\n", len(rows))
		return
	}
	q := len(rows) / 5
	med := func(rs []row) (m row) {
		pick := func(f func(row) int) int {
			v := make([]int, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			sort.Ints(v)
			return v[len(v)/2]
		}
		m.rssKB = pick(func(r row) int { return r.rssKB })
		m.threads = pick(func(r row) int { return r.threads })
		m.fds = pick(func(r row) int { return r.fds })
		m.goroutines = pick(func(r row) int { return r.goroutines })
		m.p99 = time.Duration(pick(func(r row) int { return int(r.p99) }))
		return m
	}
	fmt.Printf("%-20s %10s %8s %6s %11s %13s\n", "", "rss_kb", "threads", "fds", "goroutines", "probe_p99")
	show := func(name string, r row) {
		g := "-"
		if r.goroutines >= 0 {
			g = strconv.Itoa(r.goroutines)
		}
		fmt.Printf("%-20s %10d %8d %6d %11s %13v\n", name, r.rssKB, r.threads, r.fds, g, r.p99)
	}
	show("before the load", row{procSample: base, goroutines: atoiOr(baseG, -1)})
	show("first sample", rows[0])
	show("median 2nd fifth", med(rows[q:2*q]))
	show("median last fifth", med(rows[len(rows)-q:]))
	show("after the load", row{procSample: after, goroutines: atoiOr(afterG, -1)})
}
