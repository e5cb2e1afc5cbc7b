package metrics

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dallyhttp/dally/server"
)

// startServer serves h with dally's server on 127.0.0.1:0.
func startServer(t *testing.T, srv *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ln.Addr().String()
}

// scrape fetches the metrics over a real socket and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	return mfs
}

// value returns the sample of family name whose labels include want
// (label=value pairs), and whether there was one.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == want[i] && lp.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	v, ok := value(mfs, name, want...)
	if !ok {
		t.Fatalf("no sample %s%v in the scrape", name, want)
	}
	return v
}

// roundTrip writes raw request bytes on c and reads one response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, raw string) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// waitFor polls the metrics until cond holds, for states the server reaches
// asynchronously (a close counted after the response left).
func waitFor(t *testing.T, url string, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mfs := scrape(t, url)
		if cond(mfs) {
			return mfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerMetricsOverSocket(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	blocked := make(chan struct{}, 4)

	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		blocked <- struct{}{}
		<-release
		io.WriteString(w, "released\n")
	})
	srv := &server.Server{
		Handler:       InstrumentHandler(reg, mux),
		MaxConns:      3,
		IdleTimeout:   time.Minute,
		MinIdleWindow: time.Minute, // the idle connection is not shed: the newcomer gets 503
	}
	reg.MustRegister(NewServerCollector("public", srv))
	addr := startServer(t, srv)
	admin := httptest.NewServer(Handler(reg))
	t.Cleanup(admin.Close)
	url := admin.URL + "/metrics"

	before := scrape(t, url)
	// Every server family is there from the first scrape, with its type.
	types := map[string]dto.MetricType{
		"dally_server_connections":                dto.MetricType_GAUGE,
		"dally_server_connections_closed_total":   dto.MetricType_COUNTER,
		"dally_server_connections_accepted_total": dto.MetricType_COUNTER,
		"dally_server_requests_total":             dto.MetricType_COUNTER,
		"dally_server_limit_503_total":            dto.MetricType_COUNTER,
		"dally_server_greedy_503_total":           dto.MetricType_COUNTER,
		"dally_server_greedy_pauses_total":        dto.MetricType_COUNTER,
		"dally_server_bad_requests_total":         dto.MetricType_COUNTER,
		"dally_server_header_timeouts_total":      dto.MetricType_COUNTER,
		"dally_server_accept_errors_total":        dto.MetricType_COUNTER,
		"dally_server_staged_closes_total":        dto.MetricType_COUNTER,
		"dally_server_pressure_ratio":             dto.MetricType_GAUGE,
		"dally_server_resource_pressure_ratio":    dto.MetricType_GAUGE,
		"dally_server_saturation_ratio":           dto.MetricType_GAUGE,
		"dally_server_saturated":                  dto.MetricType_GAUGE,
		"dally_server_idle_timeout_seconds":       dto.MetricType_GAUGE,
		"dally_server_keepalive_timeout_seconds":  dto.MetricType_GAUGE,
		"dally_server_workers":                    dto.MetricType_GAUGE,
		"dally_server_workers_busy":               dto.MetricType_GAUGE,
		"dally_server_queued_connections":         dto.MetricType_GAUGE,
		"dally_http_requests_in_flight":           dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		mf := before[name]
		if mf == nil {
			t.Errorf("%s missing from the first scrape", name)
			continue
		}
		if mf.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, mf.GetType(), typ)
		}
		for _, m := range mf.GetMetric() {
			if !hasLabel(m, "server", "public") && !strings.HasPrefix(name, "dally_http_") {
				t.Errorf("%s lacks server=\"public\"", name)
			}
		}
	}
	for _, st := range States {
		mustValue(t, before, "dally_server_connections", "state", st.String())
	}
	if v := mustValue(t, before, "dally_server_idle_timeout_seconds"); v != 60 {
		t.Errorf("idle timeout in force at rest = %v s, want 60", v)
	}
	if v := mustValue(t, before, "dally_server_keepalive_timeout_seconds"); v <= 0 || v > 60 {
		t.Errorf("keep-alive advertised = %v s", v)
	}

	// Three requests on one keep-alive connection, which then stays idle.
	keep, keepR := dial(t, addr)
	for range 3 {
		if resp := roundTrip(t, keep, keepR, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// A 404, closed by Connection: close.
	c, br := dial(t, addr)
	if resp := roundTrip(t, c, br, "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); resp.StatusCode != 404 {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	c.Close() // our FIN ends the server's lingering close
	// A malformed request: 400 and a close for bad_request.
	c, br = dial(t, addr)
	if resp := roundTrip(t, c, br, "GET /ok HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"); resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	c.Close()

	mfs := waitFor(t, url, "the close and bad-request counts", func(m map[string]*dto.MetricFamily) bool {
		cl, _ := value(m, "dally_server_connections_closed_total", "reason", "close")
		bad, _ := value(m, "dally_server_connections_closed_total", "reason", "bad_request")
		idle, _ := value(m, "dally_server_connections", "state", "idle")
		closing, _ := value(m, "dally_server_connections", "state", "closing")
		return cl == 1 && bad == 1 && idle == 1 && closing == 0
	})
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dally_server_connections_accepted_total", nil, 3},
		{"dally_server_requests_total", nil, 4}, // the malformed one never reached the handler
		{"dally_server_bad_requests_total", nil, 1},
		{"dally_server_connections", []string{"state", "active"}, 0},
		{"dally_http_requests_total", []string{"code", "200"}, 3},
		{"dally_http_requests_total", []string{"code", "404"}, 1},
		{"dally_http_request_duration_seconds", []string{"class", "2xx"}, 3},
		{"dally_http_request_duration_seconds", []string{"class", "4xx"}, 1},
		{"dally_http_requests_in_flight", nil, 0},
	}
	for _, tc := range checks {
		if got := mustValue(t, mfs, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}

	// Two requests held in the handler fill MaxConns with the idle one; the
	// next connection is answered 503 (no idle connection past its window).
	for range 2 {
		bc, _ := dial(t, addr)
		io.WriteString(bc, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case <-blocked:
		case <-time.After(5 * time.Second):
			t.Fatal("request did not reach the handler")
		}
	}
	c, br = dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("newcomer at the limit: %v %v, want 503", resp, err)
	}
	mfs = waitFor(t, url, "two active connections and a 503", func(m map[string]*dto.MetricFamily) bool {
		active, _ := value(m, "dally_server_connections", "state", "active")
		rej, _ := value(m, "dally_server_limit_503_total")
		return active == 2 && rej == 1
	})
	if v := mustValue(t, mfs, "dally_http_requests_in_flight"); v != 2 {
		t.Errorf("in flight = %v, want 2", v)
	}
	if v := mustValue(t, mfs, "dally_server_workers_busy"); v < 2 {
		t.Errorf("busy workers = %v, want >= 2", v)
	}
	if v := mustValue(t, mfs, "dally_server_pressure_ratio"); v < 0 || v > 1 {
		t.Errorf("pressure %v outside [0,1]", v)
	}
	releaseOnce.Do(func() { close(release) })
	waitFor(t, url, "the held requests counted", func(m map[string]*dto.MetricFamily) bool {
		v, _ := value(m, "dally_http_requests_total", "code", "200")
		f, _ := value(m, "dally_http_requests_in_flight")
		return v == 5 && f == 0
	})
}

func hasLabel(m *dto.Metric, name, val string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name && lp.GetValue() == val {
			return true
		}
	}
	return false
}

// Two servers share one registry, told apart by the server label, and two
// instrumented handlers share the request series instead of failing.
func TestTwoServersOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := &server.Server{}, &server.Server{}
	reg.MustRegister(NewServerCollector("a", a), NewServerCollector("b", b))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	a.Handler = InstrumentHandler(reg, h)
	b.Handler = InstrumentHandler(reg, h)
	addrA, addrB := startServer(t, a), startServer(t, b)
	for _, addr := range []string{addrA, addrB, addrB} {
		c, br := dial(t, addr)
		roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	admin := httptest.NewServer(Handler(reg))
	defer admin.Close()
	mfs := scrape(t, admin.URL)
	if v := mustValue(t, mfs, "dally_server_requests_total", "server", "a"); v != 1 {
		t.Errorf("a: %v requests, want 1", v)
	}
	if v := mustValue(t, mfs, "dally_server_requests_total", "server", "b"); v != 2 {
		t.Errorf("b: %v requests, want 2", v)
	}
	if v := mustValue(t, mfs, "dally_http_requests_total", "code", "204"); v != 3 {
		t.Errorf("204s: %v, want 3", v)
	}
}

func TestUpstreamCollector(t *testing.T) {
	var mu sync.Mutex
	pools := []UpstreamStats{{Upstream: "10.0.0.1:80", Idle: 3, Active: 1, Dials: 4, Retries: 2, Failures: 1}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewUpstreamCollector(UpstreamFunc(func() []UpstreamStats {
		mu.Lock()
		defer mu.Unlock()
		return append([]UpstreamStats(nil), pools...)
	})))
	size := 7.0
	reg.MustRegister(NewFuncGauge("proxy", "pool_limit", "The pool's bound.", func() float64 { return size }))
	admin := httptest.NewServer(Handler(reg))
	defer admin.Close()

	mfs := scrape(t, admin.URL)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dally_upstream_connections", []string{"upstream", "10.0.0.1:80", "state", "idle"}, 3},
		{"dally_upstream_connections", []string{"upstream", "10.0.0.1:80", "state", "active"}, 1},
		{"dally_upstream_dials_total", []string{"upstream", "10.0.0.1:80"}, 4},
		{"dally_upstream_retries_total", []string{"upstream", "10.0.0.1:80"}, 2},
		{"dally_upstream_failures_total", []string{"upstream", "10.0.0.1:80"}, 1},
		{"dally_proxy_pool_limit", nil, 7},
	} {
		if got := mustValue(t, mfs, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	mu.Lock()
	pools = []UpstreamStats{{Upstream: "10.0.0.2:80", Retries: 9}}
	mu.Unlock()
	mfs = scrape(t, admin.URL)
	if _, ok := value(mfs, "dally_upstream_retries_total", "upstream", "10.0.0.1:80"); ok {
		t.Error("a vanished upstream is still exported")
	}
	if v := mustValue(t, mfs, "dally_upstream_retries_total", "upstream", "10.0.0.2:80"); v != 9 {
		t.Errorf("retries = %v, want 9", v)
	}
}

// The middleware sees the final status however the handler sends it, and
// keeps Flush and Hijack working on dally's writer.
func TestInstrumentHandlerStatuses(t *testing.T) {
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("/implicit", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") })
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the middleware: %v", err)
		}
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through the middleware: %v", err)
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		c.Close()
	})
	srv := &server.Server{Handler: InstrumentHandler(reg, mux)}
	addr := startServer(t, srv)
	for _, tc := range []struct {
		path string
		code int // on the wire
	}{
		{"/implicit", 200}, {"/write", 200}, {"/early-hints", 201}, {"/flush", 200},
		{"/panic", 500}, {"/hijack", 200},
	} {
		c, br := dial(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		for err == nil && resp.StatusCode == http.StatusEarlyHints {
			resp, err = http.ReadResponse(br, nil)
		}
		if err != nil || resp.StatusCode != tc.code {
			t.Errorf("%s: %v %v, want %d", tc.path, resp, err, tc.code)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		c.Close()
	}
	admin := httptest.NewServer(Handler(reg))
	defer admin.Close()
	mfs := waitFor(t, admin.URL, "six requests", func(m map[string]*dto.MetricFamily) bool {
		v, _ := value(m, "dally_http_requests_in_flight")
		n := 0.0
		for _, mt := range m["dally_http_requests_total"].GetMetric() {
			n += mt.GetCounter().GetValue()
		}
		return v == 0 && n == 6
	})
	for _, tc := range []struct {
		code string
		want float64
	}{{"200", 3}, {"201", 1}, {"500", 1}, {"hijacked", 1}, {"103", 0}} {
		got, _ := value(mfs, "dally_http_requests_total", "code", tc.code)
		if got != tc.want {
			t.Errorf("code %s: %v, want %v", tc.code, got, tc.want)
		}
	}
	if v := mustValue(t, mfs, "dally_http_request_duration_seconds", "class", "hijacked"); v != 1 {
		t.Errorf("hijacked timed %v times, want 1", v)
	}
}
