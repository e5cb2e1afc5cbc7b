// Command clientrace runs the idle-close race: servers that close idle
// connections after 50 ms, and clients that pause about 50 ms between
// requests, so that a request often meets the server's close. dally's
// client and Go's http.Transport run side by side, each against its own
// server of each kind; every server counts requests by id, so a POST
// executed twice is seen. Bounded: -gets, -posts and -timeout.
//
//	go run ./clientrace -gets 20000 -posts 2000 -workers 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/dallyhttp/dally/client"
	"github.com/dallyhttp/dally/server"
)

var (
	gets    = flag.Int("gets", 20000, "GET requests per client")
	posts   = flag.Int("posts", 2000, "POST requests per client")
	workers = flag.Int("workers", 20, "concurrent workers per client (and max connections per host)")
	pause   = flag.Duration("pause", 50*time.Millisecond, "mean pause before each request")
	jitter  = flag.Duration("jitter", 20*time.Millisecond, "pause is uniform in [pause-jitter, pause+jitter]")
	idle    = flag.Duration("idle", 50*time.Millisecond, "servers' idle timeout")
	timeout = flag.Duration("timeout", 240*time.Second, "bound on the whole run")
	servers = flag.String("servers", "nethttp,dally", "server kinds: nethttp (Go http.Server, no Keep-Alive hint), dally")
	clients = flag.String("clients", "dally,nethttp", "client kinds: dally, nethttp (http.Transport)")
)

// counter is the server side: requests by id, and accepted connections.
type counter struct {
	mu      sync.Mutex
	seen    map[string]int // guarded by mu
	gets    atomic.Int64
	posts   atomic.Int64
	dupPost atomic.Int64
	dupGet  atomic.Int64
	accepts atomic.Int64
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	id := r.Header.Get("X-Req-Id")
	c.mu.Lock()
	c.seen[id]++
	n := c.seen[id]
	c.mu.Unlock()
	if r.Method == "POST" {
		c.posts.Add(1)
		if n > 1 {
			c.dupPost.Add(1)
		}
	} else {
		c.gets.Add(1)
		if n > 1 {
			c.dupGet.Add(1)
		}
	}
	io.WriteString(w, "ok")
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startServer starts a server of kind with the idle timeout; it returns its
// URL and a stop function.
func startServer(kind string, cnt *counter) (string, func() string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	cl := countingListener{ln, &cnt.accepts}
	switch kind {
	case "nethttp":
		s := &http.Server{Handler: cnt, IdleTimeout: *idle, ErrorLog: log.New(io.Discard, "", 0)}
		go s.Serve(cl)
		return "http://" + ln.Addr().String(), func() string { s.Close(); return "" }
	case "dally":
		s := &server.Server{Handler: cnt, IdleTimeout: *idle, IdleTimeoutMin: *idle, MinIdleWindow: *idle,
			MaxRequestsPerConn: -1, ErrorLog: log.New(io.Discard, "", 0)}
		go s.Serve(cl)
		return "http://" + ln.Addr().String(), func() string {
			st := s.Stats()
			s.Close()
			return fmt.Sprintf("dally server closes by reason: %v", st.Closed)
		}
	}
	log.Fatalf("unknown server %q", kind)
	return "", nil
}

type result struct {
	server, client         string
	getErr, postErr        atomic.Int64
	getOK, postOK          atomic.Int64
	firstGetErr, firstPost atomic.Value
	elapsed                time.Duration
	cnt                    *counter
	retries, fin, learned  int64
	hint                   int64
	opened                 int64
	serverNote             string
}

func run(ctx context.Context, srvKind, cliKind string) *result {
	res := &result{server: srvKind, client: cliKind, cnt: &counter{seen: map[string]int{}}}
	url, stop := startServer(srvKind, res.cnt)
	defer func() { res.serverNote = stop() }()
	var rt http.RoundTripper
	var dt *client.Transport
	switch cliKind {
	case "dally":
		dt = &client.Transport{MaxConnsPerHost: *workers}
		rt = dt
	case "nethttp":
		rt = &http.Transport{MaxConnsPerHost: *workers, MaxIdleConnsPerHost: *workers, DisableCompression: true}
	default:
		log.Fatalf("unknown client %q", cliKind)
	}
	hc := &http.Client{Transport: rt}
	// The jobs: GETs and POSTs shuffled.
	jobs := make(chan bool, *gets+*posts)
	kinds := make([]bool, 0, *gets+*posts)
	for i := 0; i < *gets; i++ {
		kinds = append(kinds, false)
	}
	for i := 0; i < *posts; i++ {
		kinds = append(kinds, true)
	}
	rand.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for _, k := range kinds {
		jobs <- k
	}
	close(jobs)
	var seq atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for post := range jobs {
				if ctx.Err() != nil {
					return
				}
				d := *pause - *jitter + time.Duration(rand.Int64N(int64(2**jitter)+1))
				time.Sleep(d)
				id := fmt.Sprintf("%s-%s-%d", srvKind, cliKind, seq.Add(1))
				var req *http.Request
				if post {
					req, _ = http.NewRequestWithContext(ctx, "POST", url+"/p", strings.NewReader("payload"))
				} else {
					req, _ = http.NewRequestWithContext(ctx, "GET", url+"/g", nil)
				}
				req.Header.Set("X-Req-Id", id)
				resp, err := hc.Do(req)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && string(b) != "ok" {
						err = fmt.Errorf("body %q", b)
					}
				}
				switch {
				case err != nil && post:
					res.postErr.Add(1)
					res.firstPost.CompareAndSwap(nil, err.Error())
				case err != nil:
					res.getErr.Add(1)
					res.firstGetErr.CompareAndSwap(nil, err.Error())
				case post:
					res.postOK.Add(1)
				default:
					res.getOK.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if dt != nil {
		st := dt.Stats()
		res.retries, res.fin, res.learned, res.hint, res.opened = st.Retries, st.Closed["fin_seen"], st.Closed["learned_timeout"], st.Closed["server_hint"], st.ConnsOpened
		dt.CloseIdleConnections()
	} else {
		rt.(*http.Transport).CloseIdleConnections()
	}
	return res
}

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var results []*result
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range strings.Split(*servers, ",") {
		for _, c := range strings.Split(*clients, ",") {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := run(ctx, s, c)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		log.Printf("warning: -timeout %v reached; counts are partial", *timeout)
	}
	fmt.Printf("clientrace: %d GETs + %d POSTs per client, %d workers, pause %v±%v, server idle timeout %v\n\n",
		*gets, *posts, *workers, *pause, *jitter, *idle)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "server\tclient\tGET errors\tPOST errors\tPOSTs run twice\tGETs run twice\tserver conns\treqs/conn\tretries\tfin_seen\tlearned\thint\tseconds")
	for _, r := range results {
		total := r.cnt.gets.Load() + r.cnt.posts.Load()
		perConn := float64(total) / float64(max(1, r.cnt.accepts.Load()))
		dash := func(v int64) string {
			if r.client != "dally" {
				return "-"
			}
			return fmt.Sprint(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%.1f\n", r.server, r.client,
			r.getErr.Load(), r.postErr.Load(), r.cnt.dupPost.Load(), r.cnt.dupGet.Load(), r.cnt.accepts.Load(), perConn,
			dash(r.retries), dash(r.fin), dash(r.learned), dash(r.hint), r.elapsed.Seconds())
	}
	tw.Flush()
	for _, r := range results {
		if v := r.firstGetErr.Load(); v != nil {
			fmt.Printf("\n%s/%s first GET error: %v", r.server, r.client, v)
		}
		if v := r.firstPost.Load(); v != nil {
			fmt.Printf("\n%s/%s first POST error: %v", r.server, r.client, v)
		}
		if r.serverNote != "" {
			fmt.Printf("\n%s/%s %s", r.server, r.client, r.serverNote)
		}
	}
	fmt.Println()
}
