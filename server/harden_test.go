package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dallyhttp/dally/h1"
)

// smugglingCase is one block of testdata/smuggling/cases.txt.
type smugglingCase struct {
	name, note string
	raw        []byte
	reject     int        // want: reject STATUS (0: requests)
	requests   []seenCall // want: requests ...
	then       string     // "open", "closed" or "reject"
	thenStatus int        // for then: reject STATUS
	line       int
}

// seenCall is what the handler saw of one request. Fields left empty in
// an expectation are not compared (but body is: "" means no body bytes).
type seenCall struct {
	method, target string
	body           string
	host           string   // compared when set in the expectation
	trailers       []string // non-empty trailer fields, sorted
	bodyErr        int      // status of the *h1.Error the body's Read returned
}

func (c seenCall) String() string {
	s := c.method + " " + c.target
	if c.body != "" {
		s += " body=" + strconv.Quote(c.body)
	}
	if c.host != "" {
		s += " host=" + c.host
	}
	if len(c.trailers) > 0 {
		s += " trailers=" + strings.Join(c.trailers, ",")
	}
	if c.bodyErr != 0 {
		s += " bodyerr=" + strconv.Itoa(c.bodyErr)
	}
	return s
}

// unescapeRaw decodes the corpus escapes: \r \n \t \0 \\ \xHH.
func unescapeRaw(s string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i+1 == len(s) {
			return nil, errors.New("trailing backslash")
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '0':
			b = append(b, 0)
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, errors.New("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			b = append(b, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b, nil
}

// parseCalls reads "METHOD TARGET [k=v ...] | ...".
func parseCalls(s string) ([]seenCall, error) {
	var out []seenCall
	for _, item := range strings.Split(s, " | ") {
		item = strings.TrimSpace(item)
		method, rest, _ := strings.Cut(item, " ")
		target, rest, _ := strings.Cut(rest, " ")
		if method == "" || target == "" {
			return nil, fmt.Errorf("request %q: want METHOD TARGET", item)
		}
		c := seenCall{method: method, target: target}
		for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				return nil, fmt.Errorf("request %q: %q is not key=value", item, rest)
			}
			if strings.HasPrefix(v, `"`) {
				q, err := strconv.QuotedPrefix(v)
				if err != nil {
					return nil, fmt.Errorf("request %q: %v", item, err)
				}
				rest = v[len(q):]
				v, _ = strconv.Unquote(q)
			} else {
				v, rest, _ = strings.Cut(v, " ")
			}
			switch k {
			case "body":
				c.body = v
			case "host":
				c.host = v
			case "trailers":
				c.trailers = strings.Split(v, ",")
			case "bodyerr":
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, err
				}
				c.bodyErr = n
			default:
				return nil, fmt.Errorf("request %q: unknown key %q", item, k)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func loadSmugglingCorpus(t testing.TB) []smugglingCase {
	t.Helper()
	f, err := os.Open("testdata/smuggling/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []smugglingCase
	var cur *smugglingCase
	names := map[string]bool{}
	flush := func() {
		if cur == nil {
			return
		}
		c := *cur
		cur = nil
		switch {
		case c.name == "" || len(c.raw) == 0:
			t.Fatalf("cases.txt:%d: case without name or raw", c.line)
		case names[c.name]:
			t.Fatalf("cases.txt:%d: duplicate name %s", c.line, c.name)
		case c.reject == 0 && len(c.requests) == 0:
			t.Fatalf("cases.txt:%d: %s has no want", c.line, c.name)
		case c.reject == 0 && c.then == "":
			t.Fatalf("cases.txt:%d: %s: requests without then", c.line, c.name)
		}
		names[c.name] = true
		cases = append(cases, c)
	}
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("cases.txt:%d: want key: value", ln)
		}
		val = strings.TrimLeft(val, " ")
		if cur == nil {
			cur = &smugglingCase{line: ln}
		}
		fail := func(err error) { t.Fatalf("cases.txt:%d: %s: %v", ln, key, err) }
		switch key {
		case "name":
			cur.name = val
		case "note":
			cur.note += val + " "
		case "raw":
			b, err := unescapeRaw(val)
			if err != nil {
				fail(err)
			}
			cur.raw = append(cur.raw, b...)
		case "want":
			if s, ok := strings.CutPrefix(val, "reject "); ok {
				n, err := strconv.Atoi(s)
				if err != nil {
					fail(err)
				}
				cur.reject = n
			} else if s, ok := strings.CutPrefix(val, "requests "); ok {
				calls, err := parseCalls(s)
				if err != nil {
					fail(err)
				}
				cur.requests = calls
			} else {
				fail(fmt.Errorf("unknown want %q", val))
			}
		case "then":
			switch {
			case val == "open" || val == "closed":
				cur.then = val
			case strings.HasPrefix(val, "reject "):
				n, err := strconv.Atoi(strings.TrimPrefix(val, "reject "))
				if err != nil {
					fail(err)
				}
				cur.then, cur.thenStatus = "reject", n
			default:
				fail(fmt.Errorf("unknown then %q", val))
			}
		default:
			fail(fmt.Errorf("unknown key"))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// callLog records the handler's calls by client address, so that parallel
// connections to one server keep separate books.
type callLog struct {
	mu    sync.Mutex
	calls map[string][]seenCall // guarded by mu
}

func (l *callLog) of(remote string) []seenCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls[remote])
}

// handler reads the whole body (except for /noread), records what it saw,
// and answers "ok", or the status of a body framing error.
func (l *callLog) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := seenCall{method: r.Method, target: r.RequestURI, host: r.Host}
		if r.URL.Path != "/noread" {
			b, err := io.ReadAll(r.Body)
			c.body = string(b)
			var he *h1.Error
			switch {
			case errors.As(err, &he):
				c.bodyErr = he.Status
			case err != nil:
				c.bodyErr = -1
			}
		}
		for k, vs := range r.Trailer {
			if len(vs) > 0 {
				c.trailers = append(c.trailers, k)
			}
		}
		sort.Strings(c.trailers)
		l.mu.Lock()
		if l.calls == nil {
			l.calls = map[string][]seenCall{}
		}
		l.calls[r.RemoteAddr] = append(l.calls[r.RemoteAddr], c)
		l.mu.Unlock()
		if c.bodyErr > 0 {
			http.Error(w, "bad body", c.bodyErr)
			return
		}
		io.WriteString(w, "ok")
	})
}

func sameCalls(want, got []seenCall) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if w.method != g.method || w.target != g.target || w.body != g.body ||
			w.bodyErr != g.bodyErr || !slices.Equal(w.trailers, g.trailers) ||
			(w.host != "" && w.host != g.host) {
			return false
		}
	}
	return true
}

// TestSmugglingCorpus sends each case of testdata/smuggling/cases.txt to a
// real server, whole and then one byte per write, and checks the outcome
// the case states: a refused head gets its status, Connection: close and an
// orderly close without a handler call; an accepted one is read one way
// (the handler sees exactly the listed requests, bodies and trailers), and
// what follows is a request only when the framing says so.
func TestSmugglingCorpus(t *testing.T) {
	cases := loadSmugglingCorpus(t)
	var log callLog
	_, addr := startServer(t, &Server{ErrorLog: discardLog()}, log.handler())
	rejected := map[int]int{}
	for _, c := range cases {
		if c.reject != 0 {
			rejected[c.reject]++
		}
	}
	t.Logf("%d cases: %d accepted, rejected by status %v", len(cases), len(cases)-sumValues(rejected), rejected)
	for _, c := range cases {
		for _, split := range []bool{false, true} {
			name := c.name + "/whole"
			if split {
				name = c.name + "/bytewise"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := dial(t, addr)
				if split {
					for i := range c.raw {
						if _, err := w.c.Write(c.raw[i : i+1]); err != nil {
							// The server may refuse early and close: what
							// matters is what it answered.
							break
						}
					}
				} else {
					w.send(string(c.raw))
				}
				me := w.c.LocalAddr().String()
				if c.reject != 0 {
					wantRefused(t, w, c.reject)
					if got := log.of(me); len(got) != 0 {
						t.Fatalf("handler ran for a refused head: %v", got)
					}
					return
				}
				for i, want := range c.requests {
					resp, body := w.response(want.method)
					status := 200
					if want.bodyErr > 0 {
						status = want.bodyErr
					}
					if resp.StatusCode != status {
						t.Fatalf("response %d: status %d (%q), want %d; handler saw %v", i+1, resp.StatusCode, body, status, log.of(me))
					}
				}
				switch c.then {
				case "open":
					w.send("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
					if resp, _ := w.response("GET"); resp.StatusCode != 200 {
						t.Fatalf("probe after the case: status %d", resp.StatusCode)
					}
				case "closed":
					w.wantClosed()
				case "reject":
					wantRefused(t, w, c.thenStatus)
				}
				want := c.requests
				if c.then == "open" {
					want = append(slices.Clone(want), seenCall{method: "GET", target: "/probe"})
				}
				if got := log.of(me); !sameCalls(want, got) {
					t.Fatalf("handler saw\n\t%v\nwant\n\t%v\n(%s)", got, want, c.note)
				}
			})
		}
	}
}

// wantRefused reads an error response with the given status, a reason,
// Connection: close, then an orderly close.
func wantRefused(t *testing.T, w *wire, status int) {
	t.Helper()
	resp, body := w.response("GET")
	if resp.StatusCode != status {
		t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, status)
	}
	if !resp.Close || strings.TrimSpace(body) == "" {
		t.Fatalf("want Connection: close and a reason, got close=%v body=%q", resp.Close, body)
	}
	w.wantClosed()
}

func sumValues(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
