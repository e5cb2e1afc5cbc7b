package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCheckExamples: `dally check` passes every example and fails every
// bad file with all its errors, each with its line.
func TestCheckExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 4 {
		t.Fatalf("examples: %v", files)
	}
	var out, errb bytes.Buffer
	if rc := check(files, &out, &errb); rc != 0 {
		t.Fatalf("check examples: exit %d\n%s", rc, errb.String())
	}
	for _, f := range files {
		if !strings.Contains(out.String(), f+": ok\n") {
			t.Errorf("no ok for %s:\n%s", f, out.String())
		}
	}

	bad := "internal/config/testdata/bad/many.yaml"
	out.Reset()
	errb.Reset()
	if rc := check([]string{bad}, &out, &errb); rc != 1 {
		t.Fatalf("check bad file: exit %d", rc)
	}
	data, _ := os.ReadFile(bad)
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.Contains(l, "# want: ") && !strings.Contains(errb.String(), bad+":"+strconv.Itoa(i+1)+":") {
			t.Errorf("no error at line %d: %s", i+1, l)
		}
	}
}

// TestAccessLogJSON: one JSON record per request, with what an operator
// greps for.
func TestAccessLogJSON(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "access.log")
	p := start(t, "-listen", "127.0.0.1:0", "-admin", "off", "-access-log", logf, "-access-log-format", "json")
	if p.admin != "" {
		t.Errorf("-admin off, yet the banner names %q", p.admin)
	}
	get(t, p.public[0]+"/bytes/123?x=1")
	get(t, p.public[0]+"/status/404")
	p.signal(syscall.SIGTERM)
	p.wait(15 * time.Second)
	data, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(recs) != 2 {
		t.Fatalf("want 2 records, got:\n%s", data)
	}
	var r struct {
		Msg, Method, Target, Remote string
		Status                      int
		Bytes                       int64
		Duration                    int64
	}
	if err := json.Unmarshal([]byte(recs[0]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Msg != "request" || r.Method != "GET" || r.Target != "/bytes/123?x=1" || r.Status != 200 || r.Bytes != 123 || r.Duration <= 0 || !strings.HasPrefix(r.Remote, "127.0.0.1:") {
		t.Errorf("record: %+v from %s", r, recs[0])
	}
	if !strings.Contains(recs[1], `"status":404`) {
		t.Errorf("second record: %s", recs[1])
	}
}

// TestAdmin: /healthz turns 503 as soon as the drain begins while the
// public port still serves (drain.delay), pprof only when asked.
func TestAdmin(t *testing.T) {
	p := start(t, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-drain-delay", "1s")
	if code, _ := get(t, p.admin+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof without -pprof: %d", code)
	}
	p.signal(syscall.SIGTERM)
	p.waitFor("still serving", 5*time.Second)
	if code, body := get(t, p.admin+"/healthz"); code != 503 || body != "draining\n" {
		t.Errorf("healthz while draining: %d %q", code, body)
	}
	if code, _ := get(t, p.public[0]+"/status/200"); code != 200 {
		t.Errorf("public port during drain.delay: %d", code)
	}
	if rc := p.wait(15 * time.Second); rc != 0 {
		t.Errorf("exit %d", rc)
	}

	q := start(t, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-pprof")
	for _, want := range []string{"dally: metrics  " + q.admin + "/metrics", "dally: status   " + q.admin + "/status/"} {
		if !strings.Contains(q.out.String(), want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	get(t, q.public[0]+"/status/418")
	get(t, q.public[0]+"/bytes/1")
	code, body := get(t, q.admin+"/metrics")
	for _, want := range []string{
		`dally_http_requests_total{code="418"} 1`,
		`dally_http_requests_total{code="200"} 1`,
		"dally_server_connections_accepted_total 2",
		"dally_server_idle_timeout_seconds 60",
		"dally_proxy_upstream_connections 0",
		"go_goroutines",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	if code, body := get(t, q.admin+"/status/"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("/status/: %d", code)
	}
	if code, body := get(t, q.admin+"/status/status.json"); code != 200 || !json.Valid([]byte(body)) {
		t.Errorf("/status/status.json: %d %.100q", code, body)
	}
	if code, body := get(t, q.admin+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof with -pprof: %d", code)
	}
	if code, body := get(t, q.admin+"/"); code != 200 || !strings.Contains(body, "/debug/pprof/") {
		t.Errorf("admin index: %d %q", code, body)
	}
}

// TestAdminDefaultTaken: when the admin address was not given and the
// default is taken (another dally on the machine), dally serves without an
// admin listener and says so; when it was given, dally fails.
func TestAdminDefaultTaken(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
		defer ln.Close() // hold it for the test; taken already otherwise
	}
	p := start(t, "-listen", "127.0.0.1:0")
	if p.admin != "" || !strings.Contains(p.out.String(), "no admin listener: the default address is taken") {
		t.Errorf("admin %q; output:\n%s", p.admin, p.out.String())
	}
	if code, _ := get(t, p.public[0]+"/status/204"); code != 204 {
		t.Errorf("public port: %d", code)
	}
	p.signal(syscall.SIGTERM)
	p.wait(10 * time.Second)

	cmd := exec.Command(dallyBin, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:9090")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "admin listener") {
		t.Errorf("explicit taken admin address: %v\n%s", err, out)
	}
}

// TestFlagsOverrideFile: flags win over the file, field by field; the rest
// of the file stays (here its static root, relative to the file).
func TestFlagsOverrideFile(t *testing.T) {
	p := start(t, "-config", "../../examples/static.yaml", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-log-level", "debug")
	if len(p.public) != 1 || strings.HasSuffix(p.public[0], ":8080") {
		t.Fatalf("-listen did not replace the file's listener: %v", p.public)
	}
	if code, body := get(t, p.public[0]+"/"); code != 200 || !strings.Contains(body, "Hello from dally") {
		t.Errorf("the file's static root: %d %q", code, body)
	}
	// A bad flag value is reported like a bad file value.
	out, err := exec.Command(dallyBin, "-config", "../../examples/static.yaml", "-log-level", "loud").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `log.level must be one of debug, info, warn, error, not "loud"`) {
		t.Errorf("bad -log-level: %v %s", err, out)
	}
}
