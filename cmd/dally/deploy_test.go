package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dallyhttp/dally/cmd/dally/internal/config"
	"go.yaml.in/yaml/v3"
)

// dig walks a decoded YAML document by keys and list indexes.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, _ := strings.Cut(addr, ":")
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q", addr)
	}
	return n
}

// TestKubernetesManifest parses deploy/kubernetes.yaml and checks that its
// numbers agree: the embedded dally.yaml passes the config parser, the
// grace period covers preStop plus the whole drain, the readiness probe
// hits the admin listener's /healthz, the ports match the config's.
func TestKubernetesManifest(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		docs[d["kind"].(string)] = d
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service"} {
		if docs[k] == nil {
			t.Fatalf("no %s", k)
		}
	}

	// The config, as dally would read it from the mounted ConfigMap. Its
	// static root exists only in the image (the Dockerfile copies it).
	conf := dig(t, docs["ConfigMap"], "data", "dally.yaml").(string)
	c, err := config.Parse("kubernetes.yaml#dally.yaml", []byte(conf))
	if err != nil {
		var es config.Errors
		if !errors.As(err, &es) {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Msg != `root "/srv/site" is not a directory` {
				t.Errorf("embedded dally.yaml: %v", e)
			}
		}
		// Parse again with a root that exists here, for the numbers.
		c, err = config.Parse("kubernetes.yaml#dally.yaml", []byte(strings.Replace(conf, "/srv/site", "../../examples/site", 1)))
		if err != nil {
			t.Fatal(err)
		}
	}

	pod := dig(t, docs["Deployment"], "spec", "template", "spec")
	ctr := dig(t, pod, "containers", 0)
	grace := time.Duration(dig(t, pod, "terminationGracePeriodSeconds").(int)) * time.Second
	preStop := time.Duration(dig(t, ctr, "lifecycle", "preStop", "sleep", "seconds").(int)) * time.Second
	need := preStop + time.Duration(c.Drain.Delay+c.Drain.Timeout+c.Server.LingerTimeout)
	if grace < need {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %v + drain delay %v + timeout %v + linger %v", grace, preStop, c.Drain.Delay, c.Drain.Timeout, c.Server.LingerTimeout)
	}
	if preStop == 0 && c.Drain.Delay == 0 {
		t.Errorf("neither preStop nor drain.delay: the pod closes its port before endpoints are updated")
	}
	if c.Drain.Spread >= c.Drain.Timeout {
		t.Errorf("drain.spread %v >= drain.timeout %v", c.Drain.Spread, c.Drain.Timeout)
	}

	ports := map[string]int{}
	for _, p := range dig(t, ctr, "ports").([]any) {
		ports[dig(t, p, "name").(string)] = dig(t, p, "containerPort").(int)
	}
	if ports["http"] != port(t, c.Listeners[0].Address) || ports["admin"] != port(t, c.Admin.Address) {
		t.Errorf("container ports %v, config listens on %s, admin %s", ports, c.Listeners[0].Address, c.Admin.Address)
	}
	probe := dig(t, ctr, "readinessProbe", "httpGet")
	if dig(t, probe, "path") != "/healthz" || dig(t, probe, "port") != "admin" {
		t.Errorf("readiness probe %v", probe)
	}
	if _, ok := dig(t, ctr, "livenessProbe").(map[string]any)["httpGet"]; ok {
		t.Errorf("liveness on /healthz would kill a draining pod")
	}
	if dig(t, docs["Service"], "spec", "ports", 0, "targetPort") != "http" {
		t.Errorf("service does not target the http port")
	}
	if !strings.Contains(strings.Join(strings.Fields(dig(t, ctr, "args").([]any)[1].(string)), " "), "/etc/dally/dally.yaml") ||
		dig(t, ctr, "volumeMounts", 0, "mountPath") != "/etc/dally" {
		t.Errorf("config is not mounted where args point")
	}
	if dig(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("pod may run as root")
	}
}

// TestDockerfile checks the Dockerfile's shape (multi-stage, static build,
// non-root, the site where the manifest's config expects it) and, without
// -short, that its build command makes a static binary. Docker itself is
// not run here.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	from := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(df, -1)
	if len(from) < 2 {
		t.Fatalf("not multi-stage")
	}
	last := df[from[len(from)-1][0]:]
	if m := regexp.MustCompile(`(?m)^USER (\d+)`).FindStringSubmatch(last); m == nil || m[1] == "0" {
		t.Errorf("final stage does not run as a numeric non-root user")
	}
	for _, want := range []string{"CGO_ENABLED=0", "/srv/site", "EXPOSE 8080 9090", `"-admin", "0.0.0.0:9090"`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "dally")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Skipf("not ELF: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary asks for a dynamic loader: not static")
		}
	}
}
