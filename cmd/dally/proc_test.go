package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests here run the real binary as a subprocess on 127.0.0.1 ports.

var dallyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dally-bin")
	if err != nil {
		panic(err)
	}
	dallyBin = filepath.Join(dir, "dally")
	out, err := exec.Command("go", "build", "-o", dallyBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's stderr while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // set before exited closes
	public []string
	admin  string
}

var bannerURL = regexp.MustCompile(`(?m)^dally: (public|admin) +(http://\S+)/$`)

// start runs dally with args and waits for its banner (at most 10 s).
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(dallyBin, args...)
	p.cmd.Stderr = p.out
	p.cmd.Stdout = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("dally %s output:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	p.waitFor("dally: Ctrl-C or SIGTERM drains", 10*time.Second)
	for _, m := range bannerURL.FindAllStringSubmatch(p.out.String(), -1) {
		if m[1] == "public" {
			p.public = append(p.public, m[2])
		} else {
			p.admin = m[2]
		}
	}
	return p
}

// waitFor waits until the output holds s.
func (p *proc) waitFor(s string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.exited:
			p.t.Fatalf("dally exited (%v) before printing %q", p.err, s)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q from dally within %v", s, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *proc) signal(s os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the process to exit within d and returns its exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.t.Fatalf("dally still running after %v", d)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	p.t.Fatal(p.err)
	return -1
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	// No keep-alive: a connection left idle here would hold a drain for
	// its minimum window.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// rawConn is a client connection read and written by hand, so a test sees
// whether the server kept it open.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends one keep-alive GET on the connection and reads the response.
func (r *rawConn) get(path string) (*http.Response, string) {
	r.t.Helper()
	r.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(r.c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		r.t.Fatalf("write on held connection: %v", err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.t.Fatalf("read on held connection: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("body on held connection: %v", err)
	}
	return resp, string(b)
}

// freePorts reports whether the addresses can be bound now.
func freePorts(addrs ...string) bool {
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// TestMainCommand is the README's `go run ./cmd/dally`: no arguments, the
// demo site on 127.0.0.1:8080 and the admin listener on 127.0.0.1:9090,
// both printed and both answering.
func TestMainCommand(t *testing.T) {
	if !freePorts("127.0.0.1:8080", "127.0.0.1:9090") {
		t.Skip("127.0.0.1:8080 or :9090 is taken on this machine")
	}
	p := start(t)
	if len(p.public) != 1 || p.public[0] != "http://127.0.0.1:8080" || p.admin != "http://127.0.0.1:9090" {
		t.Fatalf("banner: public %v admin %q\n%s", p.public, p.admin, p.out.String())
	}
	for _, want := range []string{"dally: serving the embedded demo site", "dally: health   http://127.0.0.1:9090/healthz"} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	if code, body := get(t, p.public[0]+"/"); code != 200 || !strings.Contains(body, "<h1>dally</h1>") {
		t.Errorf("demo site: %d %q", code, body)
	}
	if code, body := get(t, p.admin+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	// The admin routes are not on the public port.
	if code, _ := get(t, p.public[0]+"/healthz"); code != 404 {
		t.Errorf("public /healthz: %d, want 404", code)
	}
	p.signal(syscall.SIGTERM)
	if rc := p.wait(15 * time.Second); rc != 0 {
		t.Errorf("exit %d after SIGTERM", rc)
	}
}
