package server

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/h1"
)

// fuzzSite is the handler behind FuzzServerConn: it logs each call's method
// by client address and answers in several shapes, so that the fuzzer
// reaches Content-Length, chunked and close-delimited responses.
type fuzzSite struct {
	mu    sync.Mutex
	calls map[string][]string // guarded by mu: methods seen, by remote address
}

func (s *fuzzSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[r.RemoteAddr] = append(s.calls[r.RemoteAddr], r.Method)
	s.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/noread") {
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	}
	switch {
	case r.Method == "CONNECT":
		// No tunnel: a 2xx to CONNECT would turn the connection over.
		http.Error(w, "no tunnels", http.StatusMethodNotAllowed)
	case strings.HasPrefix(r.URL.Path, "/flush"):
		io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
	case strings.HasPrefix(r.URL.Path, "/close"):
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	case strings.HasPrefix(r.URL.Path, "/empty"):
		w.WriteHeader(http.StatusNoContent)
	default:
		io.WriteString(w, "ok")
	}
}

func (s *fuzzSite) take(remote string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.calls[remote]
	delete(s.calls, remote)
	return m
}

// llhttpSeeds returns the request inputs of the shared llhttp fixtures,
// when they are present (see h1/fixtures_test.go).
func llhttpSeeds() [][]byte {
	data, err := os.ReadFile("../../shared/fixtures/llhttp/cases.jsonl")
	if err != nil {
		return nil
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			Type   string `json:"type"`
			RawB64 string `json:"raw_b64"`
		}
		if json.Unmarshal(sc.Bytes(), &c) != nil || c.Type != "request" {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(c.RawB64); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// FuzzServerConn feeds arbitrary bytes to one connection of a real server
// over loopback, half-closes, and reads everything back. Invariants: no
// panic (a server goroutine's panic kills the process); every response
// parses with h1.ParseResponse and its body is framed as it says; one final
// response per handler call, plus at most one error response, last, with
// Connection: close; the server closes the connection after the client's
// FIN (it is neither left open nor reset).
func FuzzServerConn(f *testing.F) {
	for _, c := range loadSmugglingCorpus(f) {
		f.Add(c.raw)
	}
	for _, b := range llhttpSeeds() {
		f.Add(b)
	}
	f.Add([]byte("GET /flush HTTP/1.1\r\nHost: x\r\n\r\nGET /flush HTTP/1.0\r\n\r\n"))
	f.Add([]byte("POST /noread HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabcGET /empty HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HEAD /flush HTTP/1.1\r\nHost: x\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"))

	site := &fuzzSite{calls: map[string][]string{}}
	s := &Server{Handler: site, ErrorLog: discardLog(), HeaderTimeout: 2 * time.Second, BodyTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	f.Cleanup(func() {
		s.Close()
		<-done
	})
	addr := ln.Addr().String()

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64<<10 {
			return
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		me := c.LocalAddr().String()
		// Write concurrently: the server may stop reading (a refused head)
		// while the input is still being sent.
		go func() {
			c.Write(in)
			c.(*net.TCPConn).CloseWrite()
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		out, err := io.ReadAll(c)
		methods := site.take(me)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server did not close after the client's FIN (read %d bytes)", len(out))
			}
			t.Fatalf("connection ended with %v, not an orderly close; read %q", err, out)
		}
		if err := checkResponses(out, methods); err != nil {
			t.Fatalf("%v\ninput  %q\noutput %q\nhandler calls %v", err, in, out, methods)
		}
	})
}

// checkResponses parses a connection's whole output: for each of the
// handler's calls (methods, in order) one final response, 1xx allowed
// before it, then at most one error response that closes.
func checkResponses(out []byte, methods []string) error {
	var r h1.Response
	finals := 0
	for len(out) > 0 {
		r.Reset()
		n, err := h1.ParseResponse(out, &r, nil)
		if err != nil {
			return fmt.Errorf("response %d: %v", finals+1, err)
		}
		out = out[n:]
		if r.Status >= 100 && r.Status < 200 {
			if r.Status != 100 || finals >= len(methods) {
				return fmt.Errorf("unexpected interim %d", r.Status)
			}
			continue
		}
		method := "GET" // an error response answers a head the handler never saw
		if finals < len(methods) {
			method = methods[finals]
		} else if finals > len(methods) {
			return fmt.Errorf("%d final responses for %d handler calls", finals+1, len(methods))
		} else if !r.Conn.Close || r.Status < 400 {
			return fmt.Errorf("response %d (%d) has no handler call and is no closing error", finals+1, r.Status)
		}
		finals++
		kind, length := h1.ResponseBody([]byte(method), &r)
		switch kind {
		case h1.BodyLength:
			if int64(len(out)) < length {
				return fmt.Errorf("response %d: body cut short: %d of %d bytes", finals, len(out), length)
			}
			out = out[length:]
		case h1.BodyChunked:
			var d h1.ChunkedDecoder
			for {
				_, used, err := d.Next(out)
				out = out[used:]
				if err == io.EOF {
					break
				}
				if err != nil {
					return fmt.Errorf("response %d: chunked body: %v", finals, err)
				}
			}
		case h1.BodyUntilClose:
			out = nil
		}
	}
	if finals < len(methods) {
		return fmt.Errorf("%d handler calls but %d responses", len(methods), finals)
	}
	return nil
}
