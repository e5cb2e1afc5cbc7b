package h1

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dallyhttp/dally/internal/fixtures"
)

func fixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := fixtures.Read(rel)
	if errors.Is(err, fixtures.ErrMissing) {
		t.Skipf("%v (they are provided in CI); skipping corpus test", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// divergences reads the case ids listed in docs/conformance.md: the doc is
// the one list of known differences, and this test keeps it honest both
// ways (every failing case is listed, every listed case still fails).
func divergences(t *testing.T) map[string]bool {
	t.Helper()
	m, err := fixtures.Divergences()
	if err != nil {
		t.Fatalf("docs/conformance.md: %v", err)
	}
	return m
}

// checkCorpus compares outcomes (case id -> "" when dally matches, else why
// not) with the listed divergences of prefix.
func checkCorpus(t *testing.T, prefix string, outcomes map[string]string) {
	t.Helper()
	listed := divergences(t)
	pass, div := 0, 0
	var ids []string
	for id := range outcomes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		why := outcomes[id]
		switch {
		case why == "" && listed[id]:
			t.Errorf("%s passes but is listed as divergent in docs/conformance.md", id)
		case why == "":
			pass++
		case listed[id]:
			div++
		default:
			t.Errorf("%s: %s (not listed in docs/conformance.md)", id, why)
		}
	}
	for id := range listed {
		if strings.HasPrefix(id, prefix) {
			if _, ok := outcomes[id]; !ok {
				t.Errorf("docs/conformance.md lists %s, which is not a case", id)
			}
		}
	}
	t.Logf("%s: %d cases: %d pass, %d listed as divergent", prefix, len(outcomes), pass, div)
}

type llCase struct {
	File        string   `json:"file"`
	Line        int      `json:"line"`
	Type        string   `json:"type"`
	RawB64      string   `json:"raw_b64"`
	ExpectedLog []string `json:"expected_log"`
	Error       *struct {
		Offset int    `json:"offset"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
	MessagesCompleted int `json:"messages_completed"`
	HeadersComplete   []struct {
		Flags []string `json:"flags"`
	} `json:"headers_complete"`
}

func TestLLHTTPCorpus(t *testing.T) {
	data := fixture(t, "llhttp/cases.jsonl")
	outcomes := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c llCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Type != "request" && c.Type != "response" {
			continue // lenient modes: dally has none
		}
		id := fmt.Sprintf("llhttp:%s:%d", c.File, c.Line)
		outcomes[id] = runLLHTTP(t, &c)
	}
	checkCorpus(t, "llhttp:", outcomes)
}

// llFlags are the llhttp flags dally has an equivalent for.
var llFlags = []string{"keep_alive", "close", "chunked", "content_length", "transfer_encoding"}

func runLLHTTP(t *testing.T, c *llCase) string {
	raw, err := base64.StdEncoding.DecodeString(c.RawB64)
	if err != nil {
		t.Fatal(err)
	}
	errOff := -1
	if c.Error != nil {
		errOff = c.Error.Offset
	}
	raw = fixtures.LLHTTPInput(raw, c.ExpectedLog, errOff)
	skipBody := false
	for _, l := range c.ExpectedLog {
		if strings.Contains(l, "skip body") {
			skipBody = true
		}
	}
	// Codes 5 (data after close), 22 and 23 (pause on CONNECT/Upgrade/PRI)
	// are where llhttp stops, not errors.
	wantErr := c.Error != nil && c.Error.Code != 5 && c.Error.Code != 22 && c.Error.Code != 23
	in := raw
	if wantErr && c.Error.Offset+1 < len(in) {
		in = in[:c.Error.Offset+1] // dally must fail at or before that byte
	}
	msgs, heads, perr := replay(in, c.Type == "request", skipBody)
	if wantErr {
		if perr == nil {
			return fmt.Sprintf("llhttp fails at %d (%s); dally accepts (%d messages)", c.Error.Offset, c.Error.Reason, msgs)
		}
		return ""
	}
	if perr != nil {
		return fmt.Sprintf("dally fails: %v", perr)
	}
	if msgs != c.MessagesCompleted {
		return fmt.Sprintf("%d messages, llhttp %d", msgs, c.MessagesCompleted)
	}
	if len(heads) != len(c.HeadersComplete) {
		return fmt.Sprintf("%d heads, llhttp %d", len(heads), len(c.HeadersComplete))
	}
	for i, h := range c.HeadersComplete {
		for _, f := range llFlags {
			theirs := false
			for _, g := range h.Flags {
				theirs = theirs || g == f
			}
			if heads[i][f] != theirs {
				return fmt.Sprintf("head %d: flag %s dally %v llhttp %v", i, f, heads[i][f], theirs)
			}
		}
	}
	return ""
}

// replay reads messages off one connection's bytes as a server (requests)
// or a client (responses, to GET) would: head, body, persistence.
func replay(in []byte, request, skipBody bool) (msgs int, heads []map[string]bool, err error) {
	pos := 0
	for pos < len(in) {
		var kind BodyKind
		var length int64
		var persistent, stop bool
		if request {
			var r Request
			n, err := parseRequest(in[pos:], &r, nil, false)
			if err == ErrNeedMore {
				return msgs, heads, nil
			}
			if err != nil {
				return msgs, heads, err
			}
			pos += n
			heads = append(heads, map[string]bool{"keep_alive": r.Conn.KeepAlive, "close": r.Conn.Close,
				"chunked": r.Chunked, "content_length": r.ContentLength >= 0, "transfer_encoding": r.TransferEncoding})
			kind, length = RequestBody(&r)
			persistent = r.Persistent(RoleServer)
			// CONNECT and an accepted upgrade hand the connection over.
			stop = string(r.Method) == "CONNECT" || (r.Conn.Upgrade && r.Upgrade != nil)
		} else {
			var r Response
			n, err := ParseResponse(in[pos:], &r, nil)
			if err == ErrNeedMore {
				return msgs, heads, nil
			}
			if err != nil {
				return msgs, heads, err
			}
			pos += n
			heads = append(heads, map[string]bool{"keep_alive": r.Conn.KeepAlive, "close": r.Conn.Close,
				"chunked": r.Chunked, "content_length": r.ContentLength >= 0, "transfer_encoding": r.TransferEncoding})
			kind, length = ResponseBody([]byte("GET"), &r)
			persistent = r.Persistent(RoleClient)
			stop = r.Status == 101
		}
		if skipBody {
			kind = BodyNone
		}
		switch kind {
		case BodyLength:
			if int64(len(in)-pos) < length {
				return msgs, heads, nil
			}
			pos += int(length)
		case BodyChunked:
			var d ChunkedDecoder
			for {
				_, n, err := d.Next(in[pos:])
				pos += n
				if err == io.EOF {
					break
				}
				if err == ErrNeedMore {
					return msgs, heads, nil
				}
				if err != nil {
					return msgs, heads, err
				}
			}
		case BodyUntilClose:
			return msgs, heads, nil // complete only at EOF
		}
		msgs++
		if stop || !persistent {
			return msgs, heads, nil
		}
	}
	return msgs, heads, nil
}

type apacheCase struct {
	ExpectStrict string `json:"expect_strict"`
	Kind         string `json:"kind"`
	RequestB64   string `json:"request_b64"`
}

// serverStatus is the status dally's server answers a request h1 accepted:
// 200, or 501 for a method it does not implement. The 501 is the server's
// decision (the method is a valid token); it is modelled here so that the
// Apache rows can be read end to end. Methods: RFC 9110 §9 and PATCH.
func serverStatus(method []byte) int {
	switch string(method) {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH":
		return 200
	}
	return 501
}

func TestApacheStrictCorpus(t *testing.T) {
	data := fixture(t, "apache-httpd-tests/http_strict.json")
	var f struct{ Cases []apacheCase }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]string{}
	for i, c := range f.Cases {
		if c.Kind == "cgi_response_header" {
			continue // tests a CGI module, not HTTP parsing
		}
		raw, err := base64.StdEncoding.DecodeString(c.RequestB64)
		if err != nil {
			t.Fatal(err)
		}
		var r Request
		_, err = ParseRequest(raw, &r, nil)
		got := "dropped" // the harness half-closes: an incomplete head ends unanswered
		var e *Error
		switch {
		case err == nil:
			got = strconv.Itoa(serverStatus(r.Method))
		case errors.As(err, &e):
			got = strconv.Itoa(e.Status)
		}
		ok := false
		switch c.ExpectStrict {
		case "any-success(2xx/3xx)":
			ok = got == "200"
		case "any-error(>=400)":
			ok = got != "200" && got != "dropped"
		case "connection-dropped":
			// An error answer then a close is as safe as a bare close.
			ok = got != "200"
		default:
			ok = got == c.ExpectStrict
		}
		why := ""
		if !ok {
			why = fmt.Sprintf("%q: dally %s, Apache strict %s", raw, got, c.ExpectStrict)
		}
		outcomes[fmt.Sprintf("apache-strict:%d", i)] = why
	}
	checkCorpus(t, "apache-strict:", outcomes)
}

type chunkCase struct {
	ExpectStatusLine string   `json:"expect_status_line"`
	Pieces           []string `json:"pieces"`
	RequestB64       string   `json:"request_b64"`
	SentInPieces     bool     `json:"sent_in_pieces"`
}

func TestApacheChunkCorpus(t *testing.T) {
	data := fixture(t, "apache-httpd-tests/chunkinput.json")
	var f struct{ Cases []chunkCase }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]string{}
	for i, c := range f.Cases {
		raw, err := base64.StdEncoding.DecodeString(c.RequestB64)
		if err != nil {
			t.Fatal(err)
		}
		// The corpus sends HTTP/1.0 with chunked, which RFC 9112 §6.1 calls
		// faulty framing (dally: 400). Reuse its chunk bytes after a 1.1 head.
		body := raw[strings.Index(string(raw), "\r\n\r\n")+4:]
		head := "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
		var r Request
		n, err := ParseRequest([]byte(head), &r, nil)
		if err != nil || n != len(head) || !r.Chunked {
			t.Fatalf("head: %v", err)
		}
		step := len(body)
		if c.SentInPieces {
			step = 1
		}
		var d ChunkedDecoder
		_, _, err = decodeAll(&d, body, step)
		got := "200"
		var e *Error
		switch {
		case errors.As(err, &e):
			got = strconv.Itoa(e.Status)
		case err != nil:
			got = "incomplete"
		}
		want := strings.Fields(c.ExpectStatusLine)[1]
		if want == "404" {
			want = "200" // the URI does not exist: the handler's business
		}
		why := ""
		if got != want {
			why = fmt.Sprintf("%q: dally %s, Apache %s", body, got, want)
		}
		outcomes[fmt.Sprintf("apache-chunk:%d", i)] = why
	}
	checkCorpus(t, "apache-chunk:", outcomes)
}
