package server

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/internal/fixtures"
)

func readFixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := fixtures.Read(rel)
	if errors.Is(err, fixtures.ErrMissing) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listedDivergences returns the case ids docs/conformance.md lists as
// differing from the fixture: h1's corpus tests keep that list exact.
func listedDivergences(t *testing.T) map[string]bool {
	t.Helper()
	m, err := fixtures.Divergences()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exchange is what one connection showed: the responses in order, how
// many requests reached the handler, and whether the server closed.
type exchange struct {
	statuses []int
	closes   []bool // Connection: close on each response
	calls    int
	closed   bool   // EOF after the last response
	trailing string // bytes after the last parsable response
}

func (e exchange) String() string {
	return fmt.Sprintf("statuses %v close %v handler calls %d closed %v trailing %q", e.statuses, e.closes, e.calls, e.closed, e.trailing)
}

// fixtureServer counts handler calls per connection, keyed by the
// client's port, so cases can run in parallel on one server.
type fixtureServer struct {
	addr  string
	mu    sync.Mutex
	calls map[string]int // guarded by mu
}

func newFixtureServer(t *testing.T) *fixtureServer {
	fs := &fixtureServer{calls: map[string]int{}}
	_, fs.addr = startServer(t, &Server{ErrorLog: discardLog(), LingerTimeout: 500 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A call counts once its whole body has been read without
			// error: a body that breaks its framing is the message in
			// error, though its head reached the handler.
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				w.Header().Set("Connection", "close")
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			fs.mu.Lock()
			fs.calls[r.RemoteAddr]++
			fs.mu.Unlock()
			w.Header().Set("Content-Length", "2")
			io.WriteString(w, "ok")
		}))
	return fs
}

// send writes raw to a new connection in pieces (one piece: whole),
// half-closes as the fixtures' own harnesses do, and reads every response
// until the server closes.
func (fs *fixtureServer) send(t *testing.T, raw []byte, pieces int, rng *rand.Rand, method string) exchange {
	t.Helper()
	c, err := net.Dial("tcp", fs.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cuts := []int{0, len(raw)}
	for i := 1; i < pieces && len(raw) > 1; i++ {
		cuts = append(cuts, 1+rng.IntN(len(raw)-1))
	}
	slices.Sort(cuts)
	for i := 0; i+1 < len(cuts); i++ {
		if cuts[i] == cuts[i+1] {
			continue
		}
		if _, err := c.Write(raw[cuts[i]:cuts[i+1]]); err != nil {
			break // the server may close early after an error answer
		}
		if pieces > 1 {
			time.Sleep(time.Millisecond) // let each piece arrive as its own read
		}
	}
	c.(*net.TCPConn).CloseWrite()
	all, _ := io.ReadAll(c)
	var e exchange
	br := bufio.NewReader(bytes.NewReader(all))
	for {
		if _, err := br.Peek(1); err != nil {
			e.closed = true
			break
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			rest, _ := io.ReadAll(br)
			e.trailing = string(rest)
			e.closed = true
			break
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		e.statuses = append(e.statuses, resp.StatusCode)
		e.closes = append(e.closes, resp.Close)
	}
	fs.mu.Lock()
	e.calls = fs.calls[c.LocalAddr().String()]
	delete(fs.calls, c.LocalAddr().String()) // the port will be used again
	fs.mu.Unlock()
	return e
}

// wellFormed checks what every exchange must show, whatever the input: an
// error answer is the last one, carries Connection: close and is followed
// by the close; nothing unparsable comes back.
func wellFormed(e exchange) string {
	if e.trailing != "" {
		return "unparsable bytes after the responses"
	}
	for i, st := range e.statuses {
		if st >= 400 && (i != len(e.statuses)-1 || !e.closes[i]) {
			return fmt.Sprintf("error %d is not the last response, or lacks Connection: close", st)
		}
	}
	if !e.closed {
		return "connection not closed after the half-close"
	}
	return ""
}

func methodOf(raw []byte) string {
	if i := bytes.IndexByte(raw, ' '); i > 0 {
		return string(raw[:i])
	}
	return "GET"
}

// TestApacheStrictOverSocket sends Apache httpd's strict-parsing table to
// the server, whole and in random pieces: each row gets the status the
// table expects (or the divergence docs/conformance.md lists), a bad
// request never reaches the handler, and both ways agree.
func TestApacheStrictOverSocket(t *testing.T) {
	data := readFixture(t, "apache-httpd-tests/http_strict.json")
	var f struct {
		Cases []struct {
			ExpectStrict string `json:"expect_strict"`
			Kind         string `json:"kind"`
			RequestB64   string `json:"request_b64"`
		}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	listed := listedDivergences(t)
	fs := newFixtureServer(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ran := 0
	for i, c := range f.Cases {
		id := fmt.Sprintf("apache-strict:%d", i)
		if c.Kind != "raw" || listed[id] {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(c.RequestB64)
		if err != nil {
			t.Fatal(err)
		}
		whole := fs.send(t, raw, 1, rng, methodOf(raw))
		split := fs.send(t, raw, 4, rng, methodOf(raw))
		if bad := wellFormed(whole); bad != "" {
			t.Errorf("%s %q whole: %s (%v)", id, raw, bad, whole)
		}
		if fmt.Sprint(whole.statuses, whole.calls) != fmt.Sprint(split.statuses, split.calls) {
			t.Errorf("%s %q: whole %v, split %v", id, raw, whole, split)
		}
		first := 0
		if len(whole.statuses) > 0 {
			first = whole.statuses[0]
		}
		ok := false
		switch c.ExpectStrict {
		case "any-success(2xx/3xx)":
			ok = first == 200 && whole.calls == 1
		case "any-error(>=400)":
			ok = first >= 400 && whole.calls == 0
		case "connection-dropped":
			ok = first != 200 && whole.calls == 0
		default:
			want := 0
			if first < 400 {
				want = 1
			}
			ok = fmt.Sprint(first) == c.ExpectStrict && whole.calls == want
		}
		if !ok {
			t.Errorf("%s %q: want %s, got %v", id, raw, c.ExpectStrict, whole)
		}
		ran++
	}
	t.Logf("%d Apache strict rows sent whole and split", ran)
}

// TestLLHTTPRequestsOverSocket sends every strict llhttp request case to
// the server, whole and in random pieces. Where llhttp finds an error, the
// server answers an error status with a staged close, and the message in
// error never reaches the handler; where llhttp accepts, each complete
// message is answered in order. Split or whole, the server does the same.
func TestLLHTTPRequestsOverSocket(t *testing.T) {
	data := readFixture(t, "llhttp/cases.jsonl")
	listed := listedDivergences(t)
	fs := newFixtureServer(t)
	rng := rand.New(rand.NewPCG(3, 4))
	ran, errs := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var c struct {
			File              string   `json:"file"`
			Line              int      `json:"line"`
			Type              string   `json:"type"`
			RawB64            string   `json:"raw_b64"`
			MessagesCompleted int      `json:"messages_completed"`
			ExpectedLog       []string `json:"expected_log"`
			Error             *struct {
				Offset int `json:"offset"`
				Code   int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("llhttp:%s:%d", c.File, c.Line)
		if c.Type != "request" || listed[id] {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(c.RawB64)
		if err != nil {
			t.Fatal(err)
		}
		errOff := -1
		if c.Error != nil {
			errOff = c.Error.Offset
		}
		raw = fixtures.LLHTTPInput(raw, c.ExpectedLog, errOff)
		method := methodOf(raw)
		if method == "CONNECT" || bytes.Contains(bytes.ToLower(raw), []byte("upgrade:")) {
			continue // the handler would own the connection: not a framing case
		}
		whole := fs.send(t, raw, 1, rng, method)
		split := fs.send(t, raw, 5, rng, method)
		if bad := wellFormed(whole); bad != "" {
			t.Errorf("%s %q: %s (%v)", id, raw, bad, whole)
		}
		if fmt.Sprint(whole.statuses, whole.calls) != fmt.Sprint(split.statuses, split.calls) {
			t.Errorf("%s %q: whole %v, split %v", id, raw, whole, split)
		}
		// llhttp's stops at codes 5, 22, 23 are pauses, not errors.
		if c.Error != nil && c.Error.Code != 5 && c.Error.Code != 22 && c.Error.Code != 23 {
			errs++
			n := len(whole.statuses)
			if n == 0 || whole.statuses[n-1] < 400 {
				t.Errorf("%s %q: llhttp fails at %d; server answered %v", id, raw, c.Error.Offset, whole)
			}
			if whole.calls > c.MessagesCompleted {
				t.Errorf("%s %q: %d handler calls, but only %d messages precede the error", id, raw, whole.calls, c.MessagesCompleted)
			}
		} else {
			// Every complete message is answered, unless the server refused
			// one for its own reasons (a missing Host, an unknown method):
			// then that refusal is the last answer.
			n := len(whole.statuses)
			refused := n > 0 && whole.statuses[n-1] >= 400
			if !refused && whole.calls != c.MessagesCompleted {
				t.Errorf("%s %q: %d handler calls, llhttp completes %d messages (%v)", id, raw, whole.calls, c.MessagesCompleted, whole)
			}
		}
		ran++
	}
	t.Logf("%d llhttp request cases sent whole and split (%d errors)", ran, errs)
}
