package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReload changes the static root and a server knob in the file and
// sends SIGHUP: connections held open across it are not dropped and their
// next requests, like new connections', see the new root; the knob that
// cannot change live is reported as needing a restart; a broken file
// leaves the running config in force.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"one", "two"} {
		os.Mkdir(filepath.Join(dir, v), 0o755)
		writeFile(t, filepath.Join(dir, v, "f.txt"), v+"\n")
	}
	cfg := filepath.Join(dir, "dally.yaml")
	const tmpl = `listeners:
  - address: 127.0.0.1:0
routes:
  - type: static
    root: ROOT
server:
  idle_timeout: IDLE
admin:
  address: 127.0.0.1:0
`
	conf := func(root, idle string) string {
		return strings.NewReplacer("ROOT", root, "IDLE", idle).Replace(tmpl)
	}
	writeFile(t, cfg, conf("one", "60s"))
	p := start(t, "-config", cfg)
	base := p.public[0]

	held := []*rawConn{dialRaw(t, base), dialRaw(t, base)}
	for i, c := range held {
		if _, body := c.get("/f.txt"); body != "one\n" {
			t.Fatalf("held %d before reload: %q", i, body)
		}
	}

	writeFile(t, cfg, conf("two", "30s"))
	p.signal(syscall.SIGHUP)
	p.waitFor("msg=reloaded", 5*time.Second)
	if !strings.Contains(p.out.String(), "needs restart: server.idle_timeout: 1m0s -> 30s") {
		t.Errorf("idle_timeout change not reported as needing a restart")
	}
	for i, c := range held {
		resp, body := c.get("/f.txt")
		if body != "two\n" || resp.Close {
			t.Errorf("held %d after reload: %q, Connection: close %v", i, body, resp.Close)
		}
	}
	if _, body := get(t, base+"/f.txt"); body != "two\n" {
		t.Errorf("new connection after reload: %q", body)
	}

	// A broken file: reported, and the running routes stay.
	writeFile(t, cfg, conf("no-such-dir", "30s")+"bogus: 1\n")
	p.signal(syscall.SIGHUP)
	p.waitFor("reload failed", 5*time.Second)
	for _, want := range []string{`root \"no-such-dir\" is not a directory`, `unknown key \"bogus\"`} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("failed reload does not say %s", want)
		}
	}
	if _, body := held[0].get("/f.txt"); body != "two\n" {
		t.Errorf("after a failed reload: %q", body)
	}

	// Closed here, they need not wait out their minimum idle window.
	for _, c := range held {
		c.c.Close()
	}
	p.signal(syscall.SIGTERM)
	if rc := p.wait(15 * time.Second); rc != 0 {
		t.Errorf("exit %d", rc)
	}
}

// TestReloadUpstream: a reverse proxy route whose upstream changes on
// SIGHUP. Held client connections stay open, and their next request goes
// to the new upstream; a forward proxy route answers absolute-form
// requests throughout.
func TestReloadUpstream(t *testing.T) {
	upstream := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s\n", name, r.URL.Path)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	a, b := upstream("a"), upstream("b")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dally.yaml")
	conf := func(up string) string {
		return `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
routes:
  - path: /app/
    type: proxy
    upstreams: [` + up + `]
  - type: forward
    connect_ports: [443]
`
	}
	writeFile(t, cfg, conf(a))
	p := start(t, "-config", cfg)
	base := p.public[0]
	held := dialRaw(t, base)
	if _, body := held.get("/app/x"); body != "a /app/x\n" {
		t.Fatalf("before reload: %q", body)
	}
	// Forward proxy: an absolute-form request to upstream b.
	held.c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(held.c, "GET %s/fwd HTTP/1.1\r\nHost: %s\r\n\r\n", b, strings.TrimPrefix(b, "http://"))
	resp, err := http.ReadResponse(held.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "b /fwd\n" {
		t.Errorf("forward proxy: %d %q", resp.StatusCode, body)
	}

	writeFile(t, cfg, conf(b))
	p.signal(syscall.SIGHUP)
	p.waitFor("msg=reloaded", 5*time.Second)
	if strings.Contains(p.out.String(), "needs restart") {
		t.Errorf("a route change reported as needing a restart")
	}
	if resp, body := held.get("/app/y"); body != "b /app/y\n" || resp.Close {
		t.Errorf("held connection after reload: %q, Connection: close %v", body, resp.Close)
	}
	if _, body := get(t, base+"/app/z"); body != "b /app/z\n" {
		t.Errorf("new connection after reload: %q", body)
	}
	held.c.Close()
	p.signal(syscall.SIGTERM)
	if rc := p.wait(15 * time.Second); rc != 0 {
		t.Errorf("exit %d", rc)
	}
}
