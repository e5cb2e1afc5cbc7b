package main

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

const indexPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>dally</title></head>
<body>
<h1>dally</h1>
<p>dally is an HTTP/1.1 server, client and proxy whose heart is connection
management: it keeps each connection exactly as long as it helps. An idle
keep-alive connection costs it no goroutine and no buffer.</p>
<p>This is its embedded demo site:</p>
<ul>
<li><a href="/echo">/echo</a>: the request as dally received it</li>
<li><a href="/bytes/1024">/bytes/{n}</a>: n bytes</li>
<li><a href="/chunked/5">/chunked/{n}</a>: n chunks, flushed one by one</li>
<li><a href="/delay/1s">/delay/{duration}</a>: an answer after a pause</li>
<li><a href="/status/418">/status/{code}</a>: that status</li>
</ul>
</body></html>
`

// maxDemoBytes bounds /bytes and /chunked so a typo cannot ask for terabytes.
const maxDemoBytes = 1 << 30

func demoSite() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, indexPage)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s %s\n", r.Method, r.RequestURI, r.Proto)
		fmt.Fprintf(w, "Host: %s\n", r.Host)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range r.Header[k] {
				fmt.Fprintf(w, "%s: %s\n", k, v)
			}
		}
		fmt.Fprintf(w, "\nremote: %s\n", r.RemoteAddr)
		if r.Body != nil {
			n, _ := copyCount(r)
			fmt.Fprintf(w, "body: %d bytes\n", n)
		}
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 || n > maxDemoBytes {
			http.Error(w, "n must be an integer from 0 to 1073741824", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := []byte(strings.Repeat("dally ", 2731)[:16384])
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("GET /chunked/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 || n > 100000 {
			http.Error(w, "n must be an integer from 0 to 100000", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		f, _ := w.(http.Flusher)
		for i := 1; i <= n; i++ {
			if _, err := fmt.Fprintf(w, "chunk %d of %d\n", i, n); err != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
	})
	mux.HandleFunc("GET /delay/{d}", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.PathValue("d"))
		if err != nil || d < 0 || d > time.Minute {
			http.Error(w, "duration must be like 250ms or 2s, at most 1m", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			fmt.Fprintf(w, "waited %v\n", d)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			http.Error(w, "code must be from 200 to 599", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, "%d %s\n", code, http.StatusText(code))
	})
	return mux
}

func copyCount(r *http.Request) (int64, error) {
	var buf [8192]byte
	var n int64
	for {
		k, err := r.Body.Read(buf[:])
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
}
