package proxy

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needTool finds an outside program: the test skips without it, or fails
// under DALLY_REQUIRE_TOOLS=1 (the CI script installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("DALLY_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s not found (Debian package %s) and DALLY_REQUIRE_TOOLS=1", name, pkg)
	}
	t.Skipf("%s not found (Debian package %s)", name, pkg)
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNginx runs an nginx origin of our own on a free loopback port:
// keep-alive on, an access log with the connection serial number and the
// request count on it, so the test sees how the proxy used its upstream
// connections.
func startNginx(t *testing.T) (addr, dir string) {
	t.Helper()
	bin := needTool(t, "nginx", "nginx")
	dir = t.TempDir()
	addr = freeAddr(t)
	os.WriteFile(filepath.Join(dir, "big"), []byte(strings.Repeat("0123456789abcdef", 1<<16)), 0o644)
	// user root: the worker reads the test's private temp directory (when
	// not run as root nginx ignores the directive, with a warning).
	conf := fmt.Sprintf(`user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    log_format conn '$connection $connection_requests $request_uri [$http_via] [$http_x_forwarded_for] [$http_connection]';
    access_log %[1]s/access.log conn;
    keepalive_timeout 60s;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]s;
        location / { default_type text/plain; return 200 "hello from nginx\n"; }
        location = /big { alias %[1]s/big; }
    }
}
`, dir, addr)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // nginx: fast shutdown
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	waitFor(t, "nginx listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, dir
}

type logLine struct {
	conn, nreq      int
	uri, via, xff   string
	connectionField string
}

func nginxLog(t *testing.T, dir string) []logLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l logLine
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) < 4 {
			continue
		}
		l.conn, _ = strconv.Atoi(parts[0])
		l.nreq, _ = strconv.Atoi(parts[1])
		l.uri = parts[2]
		fs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(parts[3], "["), "]"), "] [")
		if len(fs) == 3 {
			l.via, l.xff, l.connectionField = fs[0], fs[1], fs[2]
		}
		out = append(out, l)
	}
	return out
}

// TestNginxOrigin: dally's proxy in front of a real nginx. 20 requests on
// one client connection travel serially on one reused upstream connection;
// a 1 MiB static file streams through intact; nginx sees Via and
// X-Forwarded-For and none of the client's connection options.
func TestNginxOrigin(t *testing.T) {
	up, dir := startNginx(t)
	addr := startProxy(t, reverse(t, "http://"+up))
	w := dial(t, addr)
	for i := 0; i < 20; i++ {
		w.send(fmt.Sprintf("GET /r%d HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\n", i))
		resp, body := w.response("GET")
		if resp.StatusCode != 200 || body != "hello from nginx\n" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	w.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := w.response("GET")
	if resp.StatusCode != 200 || body != strings.Repeat("0123456789abcdef", 1<<16) {
		t.Fatalf("big: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp.ContentLength != 1<<20 {
		t.Errorf("big: Content-Length %d", resp.ContentLength)
	}
	// An HTTP/1.0 client: closed after its answer; the upstream link is
	// kept alive all the same (persistence is per link).
	w10 := dial(t, addr)
	w10.send("GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if raw := w10.rawUntilClose(); !strings.Contains(raw, "\r\nConnection: close\r\n") || !strings.HasSuffix(raw, "hello from nginx\n") {
		t.Fatalf("HTTP/1.0: %q", raw)
	}
	var lines []logLine
	waitFor(t, "nginx access log", func() bool { lines = nginxLog(t, dir); return len(lines) == 22 })
	conns := map[int]bool{}
	for _, l := range lines {
		conns[l.conn] = true
		if l.via != "1.1 dally" && !(l.uri == "/ten" && l.via == "1.0 dally") {
			t.Errorf("%s: Via %q", l.uri, l.via)
		}
		if l.xff != "127.0.0.1" {
			t.Errorf("%s: X-Forwarded-For %q", l.uri, l.xff)
		}
		if l.connectionField != "-" {
			t.Errorf("%s: nginx got Connection: %q", l.uri, l.connectionField)
		}
	}
	if len(conns) > 2 || lines[20].nreq < 2 {
		t.Errorf("upstream connections not reused serially: %+v", lines)
	}
}

// TestCurlForward: curl -x through the forward proxy, plain and through a
// CONNECT tunnel (-p), to the nginx origin.
func TestCurlForward(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	up, _ := startNginx(t)
	p := NewForward(portOf(t, up))
	addr := startProxy(t, p)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"absolute-form", nil},
		{"CONNECT tunnel", []string{"-p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-s", "-S", "-m", "10", "-D", "-", "-x", "http://" + addr}, tc.args...)
			args = append(args, "http://"+up+"/via-curl", "http://"+up+"/again")
			out, err := exec.Command(curl, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			s := string(out)
			if strings.Count(s, "hello from nginx\n") != 2 {
				t.Fatalf("curl output:\n%s", s)
			}
			if tc.args == nil && !strings.Contains(s, "Via: 1.1 dally") {
				t.Errorf("no Via in the response:\n%s", s)
			}
			if tc.args != nil && !strings.Contains(s, "HTTP/1.1 200 Connection Established") {
				t.Errorf("no tunnel:\n%s", s)
			}
		})
	}
	// A port outside the allow list.
	out, _ := exec.Command(curl, "-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_connect}", "-p", "-x", "http://"+addr, "http://127.0.0.1:1/").CombinedOutput()
	if string(out) != "403" {
		t.Errorf("CONNECT to port 1: %q, want 403", out)
	}
}
