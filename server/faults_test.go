package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultSite answers by path: /body reads the body, /block waits for
// release, /big writes 8 MiB; anything else echoes its path. Each of the
// first three reports the error its handler met.
type faultSite struct {
	errs    chan error
	release chan struct{}
}

func newFaultSite() *faultSite {
	return &faultSite{errs: make(chan error, 16), release: make(chan struct{})}
}

func (s *faultSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/body":
		_, err := io.Copy(io.Discard, r.Body)
		s.errs <- err
	case "/block":
		<-s.release
		_, err := io.WriteString(w, "late")
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		s.errs <- err
	case "/big":
		w.Header().Set("Content-Length", fmt.Sprint(8<<20))
		buf := make([]byte, 32<<10)
		var err error
		for n := 0; n < 8<<20 && err == nil; n += len(buf) {
			_, err = w.Write(buf)
		}
		s.errs <- err
	default:
		io.WriteString(w, r.URL.Path)
	}
}

// reset closes c with SO_LINGER 0: the kernel sends RST, not FIN.
func reset(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func (s *faultSite) handlerErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never finished")
		return nil
	}
}

// afterFault checks that the server dropped the connection and that a new
// client gets its own answer (nothing of the broken exchange leaks into it).
func afterFault(t *testing.T, s *Server, addr string) {
	t.Helper()
	waitFor(t, "the reset connection to close", 5*time.Second, func() bool { return s.Stats().Open == 0 })
	w := dial(t, addr)
	token := fmt.Sprintf("/fresh-%d", time.Now().UnixNano())
	w.send("GET " + token + " HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := w.response("GET"); body != token {
		t.Fatalf("fresh client got %q, want %q", body, token)
	}
}

// Client resets at each point of a request: the server closes the
// connection, runs no handler twice, leaks no goroutine or descriptor
// (startServer counts both before and after each case), and serves the
// next client.
func TestClientResetMidRequest(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, site *faultSite, c net.Conn)
	}{
		{"partial-head", func(t *testing.T, site *faultSite, c net.Conn) {
			io.WriteString(c, "GET / HTTP/1.1\r\nHo")
			time.Sleep(50 * time.Millisecond)
			reset(t, c)
		}},
		{"partial-body", func(t *testing.T, site *faultSite, c net.Conn) {
			io.WriteString(c, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
			time.Sleep(50 * time.Millisecond)
			reset(t, c)
			if err := site.handlerErr(t); err == nil {
				t.Fatal("the handler read a whole body from a reset connection")
			}
		}},
		{"partial-chunked-body", func(t *testing.T, site *faultSite, c net.Conn) {
			io.WriteString(c, "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
			time.Sleep(50 * time.Millisecond)
			reset(t, c)
			if err := site.handlerErr(t); err == nil {
				t.Fatal("the handler read a whole body from a reset connection")
			}
		}},
		{"while-handler-runs", func(t *testing.T, site *faultSite, c net.Conn) {
			io.WriteString(c, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			reset(t, c)
			time.Sleep(50 * time.Millisecond)
			close(site.release)
			site.handlerErr(t) // either outcome; what matters is what follows
		}},
		{"pipelined-unread", func(t *testing.T, site *faultSite, c net.Conn) {
			io.WriteString(c, strings.Repeat("GET /p HTTP/1.1\r\nHost: x\r\n\r\n", 50))
			reset(t, c)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			site := newFaultSite()
			s, addr := startServer(t, &Server{ErrorLog: discardLog()}, site)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			tc.run(t, site, c)
			afterFault(t, s, addr)
		})
	}
}

// Client resets while a response is on its way: the handler's writes fail
// (it is not left blocked on a dead socket), the connection closes, and the
// next client is served.
func TestClientResetMidResponse(t *testing.T) {
	cases := []struct {
		name, req string
		read      int // bytes the client reads before its reset
	}{
		{"content-length", "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 64 << 10},
		{"before-reading", "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"pipelined-behind", "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n", 1 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			site := newFaultSite()
			s, addr := startServer(t, &Server{ErrorLog: discardLog()}, site)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, tc.req)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(bufio.NewReader(c), make([]byte, tc.read)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			reset(t, c)
			if err := site.handlerErr(t); err == nil {
				t.Fatal("8 MiB written to a reset connection without an error")
			}
			afterFault(t, s, addr)
		})
	}
}

// TestAcceptEMFILE runs itself in a child process whose descriptor limit
// is low: the child fills its descriptor table, so accept fails with
// EMFILE while a client waits; the server keeps running, counts the
// error, and serves the client once descriptors are free again.
func TestAcceptEMFILE(t *testing.T) {
	if os.Getenv("DALLY_EMFILE_CHILD") == "1" {
		emfileChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptEMFILE$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "DALLY_EMFILE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "emfile child: ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "emfile child:") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

func emfileChild(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// Room for the runtime, the listener, the pollers and a few
	// connections; the rest is filled by hand below.
	soft := uint64(countFDs() + 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: soft, Max: rl.Max}); err != nil {
		t.Fatal(err)
	}
	// The runtime's own poller (an epoll and an eventfd) opens with the
	// first socket and stays: open it before startServer counts.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	s, addr := startServer(t, &Server{MaxConns: 1000, ErrorLog: discardLog()}, http.HandlerFunc(hello))
	// A connection served before the exhaustion, kept open: it must still
	// work while accept fails.
	before := dial(t, addr)
	before.send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n")
	before.response("GET")

	var filler []*os.File
	for {
		f, err := os.Open("/dev/null")
		if err != nil {
			break
		}
		filler = append(filler, f)
	}
	// One descriptor for the client's socket; none left for accept.
	filler[len(filler)-1].Close()
	filler = filler[:len(filler)-1]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial with one descriptor free: %v", err)
	}
	io.WriteString(c, "GET /waited HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "accept to fail with EMFILE", 5*time.Second, func() bool { return s.Stats().AcceptErrors > 0 })
	// Serving goes on for the connection that was already open.
	before.send("GET /during HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := before.response("GET"); body != "hello /during" {
		t.Fatalf("open connection during EMFILE: %q", body)
	}
	for _, f := range filler {
		f.Close()
	}
	// The acceptor retries with a backoff of at most a second.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the waiting client was not served after descriptors came back: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	c.Close()
	if string(b) != "hello /waited" {
		t.Fatalf("waiting client got %q", b)
	}
	after := dial(t, addr)
	after.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := after.response("GET"); body != "hello /after" {
		t.Fatalf("new client after recovery: %q", body)
	}
	t.Logf("emfile child: ok: limit %d, %d descriptors filled, %d accept errors", soft, len(filler)+1, s.Stats().AcceptErrors)
}

// Many clients at once, some resetting at random points: every response a
// client reads carries its own token (buffers are pooled and reused across
// connections; nothing of one may reach another).
func TestResetsDoNotCrossResponses(t *testing.T) {
	clients, rounds := 16, 40
	if testing.Short() {
		clients, rounds = 8, 20
	}
	s, addr := startServer(t, &Server{ErrorLog: discardLog()}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if r.URL.Query().Has("flush") {
			w.(http.Flusher).Flush()
		}
		fmt.Fprintf(w, "%s|%s|%s", r.URL.Path, b, strings.Repeat("p", len(b)*64))
	}))
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		go func() {
			errs <- func() error {
				for k := 0; k < rounds; k++ {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						return err
					}
					br := bufio.NewReader(c)
					var req strings.Builder
					tokens := make([]string, 3)
					for j := range tokens {
						tokens[j] = fmt.Sprintf("c%dr%dq%d", i, k, j)
						q := ""
						if j == 1 {
							q = "?flush=1"
						}
						body := strings.Repeat(tokens[j], 1+j*50)
						fmt.Fprintf(&req, "POST /%s%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", tokens[j], q, len(body), body)
					}
					io.WriteString(c, req.String())
					// Read 0..3 responses, then reset or close.
					want := (i + k) % 4
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					for j := 0; j < want; j++ {
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							c.Close()
							return fmt.Errorf("client %d round %d response %d: %v", i, k, j, err)
						}
						b, err := io.ReadAll(resp.Body)
						if err != nil {
							c.Close()
							return err
						}
						body := strings.Repeat(tokens[j], 1+j*50)
						if w := "/" + tokens[j] + "|" + body + "|" + strings.Repeat("p", len(body)*64); string(b) != w {
							c.Close()
							return fmt.Errorf("client %d round %d response %d: got %.60q..., want %.60q...", i, k, j, b, w)
						}
					}
					if k%2 == 0 {
						c.(*net.TCPConn).SetLinger(0)
					}
					c.Close()
				}
				return nil
			}()
		}()
	}
	for i := 0; i < clients; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every connection to close", 5*time.Second, func() bool { return s.Stats().Open == 0 })
}
