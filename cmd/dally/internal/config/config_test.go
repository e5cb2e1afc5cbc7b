package config

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

var update = flag.Bool("update", false, "rewrite examples/*.golden from the parsed examples")

const examplesDir = "../../../../examples"

func examples(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	return files
}

// TestExamplesGolden parses every example and compares its canonical,
// defaults-filled form with examples/NAME.golden; the canonical form must
// itself parse to the same configuration.
func TestExamplesGolden(t *testing.T) {
	for _, f := range examples(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := c.Canonical()
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("canonical form differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
			// Same directory, so relative roots resolve alike.
			again, err := Parse(f, got)
			if err != nil {
				t.Fatalf("the canonical form does not parse: %v", err)
			}
			if b := again.Canonical(); !bytes.Equal(b, got) {
				t.Errorf("canonical form is not a fixed point:\n%s", b)
			}
		})
	}
}

type want struct {
	line int
	text string
}

// wants reads the "# want: text" marks of a bad file.
func wants(t *testing.T, data []byte) []want {
	var ws []want
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if _, w, ok := strings.Cut(sc.Text(), "# want: "); ok {
			for _, w := range strings.Split(w, " | ") {
				ws = append(ws, want{n, strings.TrimSpace(w)})
			}
		}
	}
	return ws
}

// TestBadFiles: every marked line gets its error, with file:line:col, all
// in one run; no unmarked line gets one.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 3 {
		t.Fatal("no bad files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(f, data)
			es, ok := err.(Errors)
			if !ok {
				t.Fatalf("want Errors, got %T %v", err, err)
			}
			ws := wants(t, data)
			matched := make([]bool, len(es))
			for _, w := range ws {
				found := false
				for i, e := range es {
					if e.Line == w.line && strings.Contains(e.Msg, w.text) {
						found, matched[i] = true, true
					}
				}
				if !found {
					t.Errorf("line %d: no error containing %q", w.line, w.text)
				}
			}
			for i, e := range es {
				if !matched[i] {
					t.Errorf("unexpected error: %v", e)
				}
				if !strings.HasPrefix(e.Error(), f+":") {
					t.Errorf("error without its file: %v", e)
				}
				if e.Col == 0 && !strings.Contains(f, "syntax") {
					t.Errorf("error without a column: %v", e)
				}
			}
			if t.Failed() {
				t.Logf("all errors:\n%v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if len(c.Listeners) != 1 || c.Listeners[0].Address != DefaultListen {
		t.Errorf("listeners %+v", c.Listeners)
	}
	if len(c.Routes) != 1 || c.Routes[0].Type != RouteDemo || c.Routes[0].Path != "/" {
		t.Errorf("routes %+v", c.Routes)
	}
	if c.Admin.Address != DefaultAdmin || c.Admin.Pprof {
		t.Errorf("admin %+v", c.Admin)
	}
	var s server.Server
	c.Server.Apply(&s)
	if s.IdleTimeout != server.DefaultIdleTimeout || s.MaxRequestsPerConn != server.DefaultMaxRequests ||
		s.MaxConns != 0 || s.DisableGreedyControl || s.ShedPolicy != server.ShedLRU {
		t.Errorf("server knobs: %+v", c.Server)
	}
	// A file with nothing in it means the same as no file.
	e, err := Parse("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Dir = c.Dir
	if !bytes.Equal(e.Canonical(), c.Canonical()) {
		t.Errorf("empty file:\n%s\nno file:\n%s", e.Canonical(), c.Canonical())
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"512", 512, false}, {"64KiB", 64 << 10, false}, {"1MiB", 1 << 20, false},
		{"10MB", 10e6, false}, {"2GiB", 2 << 30, false}, {"3kB", 3000, false}, {"7B", 7, false},
		{"-1", 0, true}, {"1.5MiB", 0, true}, {"MiB", 0, true}, {"12XB", 0, true}, {"99999999TiB", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if (err != nil) != tc.bad || got != tc.want {
				t.Errorf("ParseSize(%q) = %d, %v", tc.in, got, err)
			}
			if !tc.bad {
				if back, err := ParseSize(Size(got).String()); err != nil || back != got {
					t.Errorf("%q -> %s -> %d, %v", tc.in, Size(got), back, err)
				}
			}
		})
	}
}

func TestNeedsRestart(t *testing.T) {
	a := Default()
	b, err := FromFlags(func(c *Config) {
		c.Server.IdleTimeout = Duration(30 * time.Second)
		c.Routes = []Route{{Type: RouteStatic, Root: "."}}
		c.Log.Level = "debug"
		c.Listeners = []Listener{{Address: "127.0.0.1:8081", ReusePort: true}}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(NeedsRestart(a, b), "\n")
	for _, w := range []string{"server.idle_timeout: 1m0s -> 30s", "listeners: 127.0.0.1:8080 -> 127.0.0.1:8081 (reuse_port)"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
	for _, live := range []string{"routes", "log.level"} {
		if strings.Contains(got, live) {
			t.Errorf("%s changes live, reported as needing a restart:\n%s", live, got)
		}
	}
}

func TestSchedTarget(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"", server.DefaultSchedTarget, ""},
		{"server:\n  sched_target: 5ms\n", 5 * time.Millisecond, ""},
		{"server:\n  sched_target: off\n", -1, ""},
		{"server:\n  sched_target: 0s\n", 0, "sched_target must be more than 0"},
		{"server:\n  sched_target: soon\n", 0, "is not a duration"},
	}
	for _, tt := range tests {
		c, err := Parse("t.yaml", []byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want one saying %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var s server.Server
		c.Server.Apply(&s)
		if s.SchedTarget != tt.want {
			t.Errorf("%q: SchedTarget %v, want %v", tt.in, s.SchedTarget, tt.want)
		}
		if tt.want < 0 && !strings.Contains(string(c.Canonical()), "sched_target: \"off\"") && !strings.Contains(string(c.Canonical()), "sched_target: off") {
			t.Errorf("%q: canonical form does not say off:\n%s", tt.in, c.Canonical())
		}
	}
}
