package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dallyhttp/dally/server"
)

// serverConfig is one dally server under test, run as a child process so
// that its memory is its own and several configurations run side by side.
type serverConfig struct {
	Name          string
	Ports         int           // listeners (the "servers" users move between)
	Idle, IdleMin time.Duration // IdleTimeout and IdleTimeoutMin (equal: a fixed timeout)
	MinWindow     time.Duration
	MaxConns      int
	Shed          string // lru or random
	GreedyControl bool
	Work          int // sha256 rounds of 1 KiB per request: CPU per request
	MaxWorkers    int
}

func (c serverConfig) args() []string {
	return []string{"server",
		"-ports", strconv.Itoa(max(c.Ports, 1)),
		"-idle", c.Idle.String(), "-idle-min", c.IdleMin.String(), "-min-window", c.MinWindow.String(),
		"-max-conns", strconv.Itoa(c.MaxConns), "-shed", c.Shed,
		"-greedy-control=" + strconv.FormatBool(c.GreedyControl),
		"-work", strconv.Itoa(c.Work), "-max-workers", strconv.Itoa(c.MaxWorkers),
	}
}

// sample is the server's state at one moment, from its stats endpoint.
type sample struct {
	T           float64 // seconds since the child started
	Accepted    int64
	Open        int64
	Idle        int
	Requests    int64
	Rejected503 int64
	Greedy503   int64
	Pauses      int64
	Shed        int64
	IdleClosed  int64
	Pressure    float64
	IdleTimeout time.Duration
	RSS         int64 // bytes
	GoMem       int64 // runtime/metrics total less released
}

// serverMain is `lab server`: dally's server on -ports loopback ports,
// with a stats endpoint (net/http, not counted) on one more.
func serverMain(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	ports := fs.Int("ports", 1, "listeners")
	idle := fs.Duration("idle", server.DefaultIdleTimeout, "IdleTimeout")
	idleMin := fs.Duration("idle-min", 0, "IdleTimeoutMin")
	minWin := fs.Duration("min-window", 0, "MinIdleWindow")
	maxConns := fs.Int("max-conns", 0, "MaxConns")
	shed := fs.String("shed", "lru", "lru or random")
	greedy := fs.Bool("greedy-control", false, "greedy-client control")
	work := fs.Int("work", 0, "sha256 rounds per request")
	maxWorkers := fs.Int("max-workers", 0, "MaxWorkers")
	fs.Parse(args)
	buf := make([]byte, 1024)
	page := []byte(strings.Repeat("p", 1024))
	srv := &server.Server{
		IdleTimeout: *idle, IdleTimeoutMin: *idleMin, MinIdleWindow: *minWin,
		MaxConns: *maxConns, MaxConnsPerClient: -1, MaxRequestsPerConn: -1,
		DisableGreedyControl: !*greedy, MaxWorkers: *maxWorkers,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var sum [32]byte
			for i := 0; i < *work; i++ {
				sum = sha256.Sum256(buf)
				buf[0] = sum[0]
			}
			w.Header().Set("Content-Length", "1024")
			w.Write(page)
		}),
	}
	if *shed == "random" {
		srv.ShedPolicy = server.ShedRandom
	}
	var addrs []string
	for i := 0; i < *ports; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		addrs = append(addrs, ln.Addr().String())
		go srv.Serve(ln)
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	ms := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	go http.Serve(sl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := srv.Stats()
		metrics.Read(ms)
		json.NewEncoder(w).Encode(sample{
			T: time.Since(start).Seconds(), Accepted: st.Accepted, Open: st.Open, Idle: st.Idle,
			Requests: st.Requests, Rejected503: st.Rejected503, Greedy503: st.Greedy503, Pauses: st.Pauses,
			Shed: st.Closed["shed"], IdleClosed: st.Closed["idle_timeout"],
			Pressure: st.Pressure, IdleTimeout: st.IdleTimeout, RSS: rss(),
			GoMem: int64(ms[0].Value.Uint64() - ms[1].Value.Uint64()),
		})
	}))
	fmt.Printf("READY %s %s\n", strings.Join(addrs, ","), sl.Addr())
	// Exit with the parent: it closes our stdin.
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// child is a running `lab server`.
type child struct {
	cfg     serverConfig
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	addrs   []string
	stats   string
	mu      sync.Mutex
	samples []sample // guarded by mu
	stop    chan struct{}
	done    chan struct{}
}

func startChild(cfg serverConfig, cpus string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus, self}, cfg.args()...)...)
	} else {
		cmd = exec.Command(self, cfg.args()...)
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "READY" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("lab server %s: %q %v", cfg.Name, line, err)
	}
	c := &child{cfg: cfg, cmd: cmd, stdin: in, addrs: strings.Split(f[1], ","), stats: "http://" + f[2] + "/",
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.sampleLoop(250 * time.Millisecond)
	return c, nil
}

func (c *child) read() (sample, error) {
	resp, err := http.Get(c.stats)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	var s sample
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

func (c *child) sampleLoop(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if s, err := c.read(); err == nil {
				c.mu.Lock()
				c.samples = append(c.samples, s)
				c.mu.Unlock()
			}
		}
	}
}

// samplesSince returns the samples taken from t seconds on.
func (c *child) samplesSince(t float64) []sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []sample
	for _, s := range c.samples {
		if s.T >= t {
			out = append(out, s)
		}
	}
	return out
}

// finish stops sampling, takes a final sample once the server's open
// connections are gone (or 5 s), and ends the child.
func (c *child) finish() sample {
	close(c.stop)
	<-c.done
	var last sample
	for i := 0; i < 50; i++ {
		s, err := c.read()
		if err == nil {
			last = s
			if s.Open == 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
	return last
}
