package client

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needTool skips without the program, or fails when DALLY_REQUIRE_TOOLS=1
// (the CI script installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DALLY_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s required: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// startProc runs cmd until the test ends, stopped by its own PID: SIGTERM
// first (nginx's master then stops its workers; SIGKILL would leave them
// running, orphaned), SIGKILL only if it has not exited within 5 s.
func startProc(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

func webRoot(t *testing.T) string {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from disk\n"), 0o644)
	return dir
}

func getMany(t *testing.T, c *http.Client, url string, n, conc int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if got, _ := get(t, c, url); got != "hello from disk\n" {
				t.Errorf("body %q", got)
			}
		}()
	}
	wg.Wait()
}

func TestNginx(t *testing.T) {
	bin := needTool(t, "nginx")
	dir := webRoot(t)
	port := freePort(t)
	user := ""
	if os.Getuid() == 0 {
		user = "user root;" // workers would drop to nobody, who cannot read the temp dir
	}
	conf := user + fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fcgi; uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
	keepalive_timeout 2s 2s;
	keepalive_requests 5;
	server {
		listen 127.0.0.1:%[2]d;
		root %[1]s/www;
		location /nohint/ { alias %[1]s/www/; keepalive_timeout 1s; }
	}
}
`, dir, port)
	file := filepath.Join(dir, "nginx.conf")
	os.WriteFile(file, []byte(conf), 0o644)
	startProc(t, exec.Command(bin, "-p", dir, "-c", file, "-g", "daemon off;"))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr)
	url := "http://" + addr + "/index.html"

	t.Run("keepalive_requests", func(t *testing.T) {
		tr := &Transport{}
		c := &http.Client{Transport: tr}
		getMany(t, c, url, 30, 1)
		st := tr.Stats()
		// nginx ends each connection after 5 requests with Connection: close.
		if st.ConnsOpened != 6 || st.Reused != 24 || st.Retries != 0 || st.Closed["server_close"] != 6 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		tr := &Transport{MaxPipelineDepth: 4}
		c := &http.Client{Transport: tr}
		getMany(t, c, url, 200, 16)
		st := tr.Stats()
		if st.Requests < 200 || st.Pipelined == 0 || st.Open > 2 {
			t.Fatalf("stats %+v", st)
		}
		t.Logf("stats %+v", st)
	})
	if testing.Short() {
		return
	}
	t.Run("hint", func(t *testing.T) {
		// Keep-Alive: timeout=2: the client closes at 1.5 s, before nginx.
		tr := &Transport{}
		c := &http.Client{Transport: tr}
		_, resp := get(t, c, url)
		if !strings.Contains(resp.Header.Get("Keep-Alive"), "timeout=2") {
			t.Fatalf("Keep-Alive %q", resp.Header.Get("Keep-Alive"))
		}
		time.Sleep(1700 * time.Millisecond)
		get(t, c, url)
		st := tr.Stats()
		if st.Closed["server_hint"] != 1 || st.ConnsOpened != 2 || st.Retries != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("fin", func(t *testing.T) {
		// No hint, 1 s: nginx closes first; the peek sees its FIN.
		tr := &Transport{}
		c := &http.Client{Transport: tr}
		get(t, c, "http://"+addr+"/nohint/index.html")
		time.Sleep(1300 * time.Millisecond)
		get(t, c, "http://"+addr+"/nohint/index.html")
		st := tr.Stats()
		if st.Closed["fin_seen"] != 1 || st.ConnsOpened != 2 || st.Retries != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestPythonHTTPServer(t *testing.T) {
	bin := needTool(t, "python3")
	dir := webRoot(t)
	port := freePort(t)
	startProc(t, exec.Command(bin, "-m", "http.server", "--bind", "127.0.0.1", "--directory", filepath.Join(dir, "www"), fmt.Sprint(port)))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr)
	tr := &Transport{}
	c := &http.Client{Transport: tr}
	_, resp := get(t, c, "http://"+addr+"/index.html")
	if resp.Proto != "HTTP/1.0" || !resp.Close {
		t.Fatalf("proto %s close %v", resp.Proto, resp.Close)
	}
	getMany(t, c, "http://"+addr+"/index.html", 19, 2)
	// HTTP/1.0 without keep-alive: one connection per request, no errors.
	st := tr.Stats()
	if st.ConnsOpened != 20 || st.Reused != 0 || st.Retries != 0 || st.Closed["server_close"] != 20 || st.Open != 0 {
		t.Fatalf("stats %+v", st)
	}
}
