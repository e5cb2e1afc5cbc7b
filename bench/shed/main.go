// Command shed is the client of the shedding benchmark (the draft "HTTP
// Connection Management", §5): -clients clients, many more than the
// server's connection limit, each idle most of the time with bursts of
// requests. A client keeps its connection between bursts and reuses it if
// the server has not closed it, else opens a new one. The figure is how
// often a request finds its connection still open, which is what the
// server's choice of idle connection to shed (LRU or random) decides.
//
// Client i has source address 127.0.(2+i/250).(1+i%250), its own, as a
// browser or a device would. Each client, seeded from -seed and i, sleeps
// an exponential think time, then sends a burst of 1 to -burst requests
// one after another (a uniform 0-100 ms apart), and so on until the window
// closes. Think-time means: -dist exp gives every client -think; -dist
// mixed draws each client's own mean log-uniformly from [-think/6, -think*6]
// (a few busy clients, many rare ones, as real traffic has).
//
// It prints one line of key=value counts over the window [start+warm,
// start+warm+duration]; requests begun outside it are not counted.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/dallyhttp/dally/bench/capture/client"
)

// tally is one client's counts; each client owns its own, summed at the end.
type tally struct {
	requests    int // begun in the window
	ok          int // answered 200
	reused      int // of which on a connection kept from before
	opened      int // connections opened
	foundClosed int // kept connections the server had closed (FIN seen before sending)
	raced       int // kept connections that failed on send or before the first byte: retried once on a new one
	s503        int // answered 503
	failed      int // no response (connect or read error, timeout)
	lat         []time.Duration
}

func main() {
	target := flag.String("target", "127.0.0.1:18190", "server address")
	clients := flag.Int("clients", 2000, "clients, one source address each")
	think := flag.Duration("think", 3*time.Second, "mean think time between bursts")
	dist := flag.String("dist", "exp", "exp: every client's mean is -think; mixed: each client's mean is log-uniform in [think/6, think*6]")
	burst := flag.Int("burst", 5, "largest burst; each burst is 1..burst requests")
	warm := flag.Duration("warm", 5*time.Second, "load before the window opens")
	duration := flag.Duration("duration", 20*time.Second, "measured window")
	timeout := flag.Duration("timeout", 5*time.Second, "bound on one request")
	seed := flag.Uint64("seed", 1, "random seed (the same seed gives the same schedule)")
	flag.Parse()
	log.SetPrefix(fmt.Sprintf("shed[%d]: ", os.Getpid()))
	log.SetFlags(0)
	if *clients < 1 || *clients > 250*250 || *burst < 1 || (*dist != "exp" && *dist != "mixed") {
		log.Fatal("need 1 <= clients <= 62500, burst >= 1, dist exp or mixed")
	}

	start := time.Now()
	from, to := start.Add(*warm), start.Add(*warm+*duration)
	tallies := make([]tally, *clients)
	var wg sync.WaitGroup
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(*seed, uint64(i)))
			mean := *think
			if *dist == "mixed" {
				mean = time.Duration(float64(*think) * math.Exp(math.Log(6)*(2*rng.Float64()-1)))
			}
			c := &visitor{
				src:    net.IPv4(127, 0, byte(2+i/250), byte(1+i%250)),
				target: *target, timeout: *timeout, t: &tallies[i],
			}
			c.run(rng, mean, *burst, start, from, to)
		}()
	}
	wg.Wait()

	var sum tally
	var lat []time.Duration
	for i := range tallies {
		t := &tallies[i]
		sum.requests += t.requests
		sum.ok += t.ok
		sum.reused += t.reused
		sum.opened += t.opened
		sum.foundClosed += t.foundClosed
		sum.raced += t.raced
		sum.s503 += t.s503
		sum.failed += t.failed
		lat = append(lat, t.lat...)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	reuse := 0.0
	if sum.ok > 0 {
		reuse = float64(sum.reused) / float64(sum.ok)
	}
	fmt.Printf("shed requests=%d ok=%d reused=%d reuse_ratio=%.4f opened=%d found_closed=%d raced=%d s503=%d failed=%d p50_us=%.0f p99_us=%.0f seconds=%.3f\n",
		sum.requests, sum.ok, sum.reused, reuse, sum.opened, sum.foundClosed, sum.raced, sum.s503, sum.failed,
		client.Micros(client.Quantile(lat, 0.5)), client.Micros(client.Quantile(lat, 0.99)), duration.Seconds())
}

type visitor struct {
	src     net.IP
	target  string
	timeout time.Duration
	t       *tally
	conn    net.Conn
	br      *bufio.Reader
}

func (c *visitor) run(rng *rand.Rand, mean time.Duration, maxBurst int, start, from, to time.Time) {
	defer c.drop()
	// Start at a random point of the first think time, so the clients do
	// not arrive together.
	next := start.Add(time.Duration(rng.Float64() * float64(mean)))
	for {
		if !next.Before(to) {
			return
		}
		time.Sleep(time.Until(next))
		n := 1 + rng.IntN(maxBurst)
		for k := range n {
			if k > 0 {
				time.Sleep(time.Duration(rng.Float64() * float64(100*time.Millisecond)))
			}
			now := time.Now()
			if !now.Before(to) {
				return
			}
			c.request(now, !now.Before(from))
		}
		next = time.Now().Add(time.Duration(rng.ExpFloat64() * float64(mean)))
	}
}

func (c *visitor) drop() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// stillOpen reports whether the kept connection shows no sign of the
// server having closed it: a peek that must not wait finds no FIN, no
// reset and no stray bytes, the check a browser's pool makes before reuse.
// (A read deadline in the past would not do: Go fails such a read before
// it looks at the socket.)
func (c *visitor) stillOpen() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	rc, err := c.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	var perr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	return perr == syscall.EAGAIN
}

// request makes one request, counting it when counted is set.
func (c *visitor) request(t0 time.Time, counted bool) {
	t := c.t
	add := func(p *int) {
		if counted {
			*p++
		}
	}
	add(&t.requests)
	if c.conn != nil {
		if !c.stillOpen() {
			add(&t.foundClosed)
			c.drop()
		} else {
			status, closing, got, err := c.roundTrip(t0)
			switch {
			case err != nil && !got:
				// Closed while we sent (the shed raced our client.Request): like
				// net/http's Transport, retry an idempotent GET once.
				add(&t.raced)
				c.drop()
			case err != nil:
				add(&t.failed)
				c.drop()
				return
			default:
				c.done(t0, status, closing, true, counted)
				return
			}
		}
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: c.src}, Timeout: c.timeout}
	conn, err := d.Dial("tcp", c.target)
	if err != nil {
		add(&t.failed)
		return
	}
	add(&t.opened)
	c.conn, c.br = conn, bufio.NewReaderSize(conn, 4096)
	status, closing, _, err := c.roundTrip(t0)
	if err != nil {
		add(&t.failed)
		c.drop()
		return
	}
	c.done(t0, status, closing, false, counted)
}

func (c *visitor) done(t0 time.Time, status int, closing, reused, counted bool) {
	t := c.t
	if counted {
		switch status {
		case 200:
			t.ok++
			if reused {
				t.reused++
			}
			t.lat = append(t.lat, time.Since(t0))
		case 503:
			t.s503++
		default:
			t.failed++
		}
	}
	if closing || status != 200 {
		c.drop()
	}
}

// roundTrip sends one GET and reads its response; got says whether any
// byte of the response arrived (a failure without one may be retried).
func (c *visitor) roundTrip(t0 time.Time) (status int, closing, got bool, err error) {
	c.conn.SetDeadline(t0.Add(c.timeout))
	if _, err := io.WriteString(c.conn, client.Request); err != nil {
		return 0, false, false, err
	}
	if _, err := c.br.Peek(1); err != nil {
		return 0, false, false, err
	}
	status, closing, err = client.ReadResponse(c.br)
	return status, closing, true, err
}
