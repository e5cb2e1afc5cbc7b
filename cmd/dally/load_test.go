package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

func startLoadTarget(t *testing.T, maxReq int) (*server.Server, string) {
	t.Helper()
	s := &server.Server{MaxRequestsPerConn: maxReq, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "no", 503)
			return
		}
		io.WriteString(w, "Hello, World!")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, "http://" + ln.Addr().String()
}

func waitClosed(s *server.Server) server.Stats {
	for i := 0; i < 500; i++ {
		if st := s.Stats(); st.Open == 0 {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s.Stats()
}

func TestLoadJSONMatchesServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default", []string{"-c", "4", "-n", "500"}},
		{"dally", []string{"-c", "4", "-n", "500", "-transport", "dally"}},
		{"dally-pipeline", []string{"-c", "2", "-n", "500", "-pipeline", "4", "-transport", "dally"}},
		{"dally-close", []string{"-c", "2", "-n", "100", "-keepalive=false", "-transport", "dally"}},
		{"raw", []string{"-c", "4", "-n", "500", "-transport", "raw"}},
		{"raw-pipeline", []string{"-c", "2", "-n", "500", "-pipeline", "10", "-transport", "raw"}},
		{"close", []string{"-c", "2", "-n", "100", "-keepalive=false"}},
		{"http1.0", []string{"-c", "2", "-n", "300", "-http1.0", "-transport", "raw"}},
		{"nethttp", []string{"-c", "3", "-n", "300", "-transport", "nethttp"}},
		{"rate", []string{"-c", "2", "-d", "500ms", "-rate", "400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, u := startLoadTarget(t, 50)
			var out, errb bytes.Buffer
			if code := loadCmd(append(tc.args, "-json", u+"/"), &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var r struct {
				Requests    int64            `json:"requests"`
				ConnsOpened int64            `json:"conns_opened"`
				Reuse       float64          `json:"reuse"`
				RPS         float64          `json:"rps"`
				Errors      map[string]int64 `json:"errors"`
				Discarded   int64            `json:"discarded_at_end"`
				Latency     map[string]float64
			}
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			st := waitClosed(srv)
			// A run bounded by -d cuts the requests in flight at its end:
			// the server may have counted them, the load does not.
			if r.Requests == 0 || st.Requests < r.Requests || st.Requests > r.Requests+r.Discarded ||
				r.ConnsOpened != st.Accepted || len(r.Errors) != 0 {
				t.Errorf("load: %d requests (+%d cut at the end) over %d connections, errors %v; server: %d requests, %d accepted",
					r.Requests, r.Discarded, r.ConnsOpened, r.Errors, st.Requests, st.Accepted)
			}
			if r.Reuse != float64(r.Requests)/float64(r.ConnsOpened) || r.RPS <= 0 {
				t.Errorf("reuse %v rps %v", r.Reuse, r.RPS)
			}
		})
	}
}

func TestLoadText(t *testing.T) {
	_, u := startLoadTarget(t, -1)
	var out, errb bytes.Buffer
	if code := loadCmd([]string{"-c", "2", "-n", "50", u + "/fail"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"requests     50", "connections  2 opened", "reuse 25.00", "status_5xx 50", "503: 50", "p99.9"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if errb.Len() != 0 {
		t.Errorf("progress line on a non-terminal without -progress: %q", errb.String())
	}
}

func TestLoadBrowse(t *testing.T) {
	s1, u1 := startLoadTarget(t, -1)
	s2, u2 := startLoadTarget(t, -1)
	var out, errb bytes.Buffer
	if code := loadCmd([]string{"-workload", "browse", "-c", "10", "-d", "1s", "-time-scale", "1000", "-seed", "3", "-json", u1, u2}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r struct {
		Requests    int64 `json:"requests"`
		ConnsOpened int64 `json:"conns_opened"`
		Browse      struct{ Pages int64 }
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	a, b := waitClosed(s1), waitClosed(s2)
	if r.Browse.Pages < 10 || r.ConnsOpened != a.Accepted+b.Accepted || r.Requests > a.Requests+b.Requests {
		t.Errorf("browse: %+v; servers accepted %d+%d, requests %d+%d", r, a.Accepted, b.Accepted, a.Requests, b.Requests)
	}
}

func TestLoadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"ftp://x/"},
		{"-c", "0", "http://127.0.0.1:1/"},
		{"-transport", "nethttp", "-pipeline", "2", "http://127.0.0.1:1/"},
		{"-http1.0", "-transport", "dally", "http://127.0.0.1:1/"},
		{"-workload", "nope", "http://127.0.0.1:1/"},
		{"http://127.0.0.1:1/", "http://127.0.0.1:2/"},
	} {
		var out, errb bytes.Buffer
		if code := loadCmd(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestLoadProgress(t *testing.T) {
	_, u := startLoadTarget(t, -1)
	var out, errb bytes.Buffer
	if code := loadCmd([]string{"-c", "1", "-d", "1200ms", "-progress", u + "/"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "requests") || !strings.Contains(errb.String(), "connections") {
		t.Errorf("no progress line with -progress: %q", errb.String())
	}
}
