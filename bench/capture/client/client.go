// Package client holds what the capture and shedding benchmark clients
// share: a minimal HTTP/1.1 response reader (the servers under test all
// answer GET / with a Content-Length, and a full parser would cost the
// client CPU that the one-core load generator cannot spare) and quantiles.
package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Request is the GET every client sends.
const Request = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"

// ReadResponse reads one response head and its Content-Length body from
// br. It returns the status and whether the server said Connection: close.
func ReadResponse(br *bufio.Reader) (status int, closing bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		if line, err = br.ReadSlice('\n'); err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.Contains(bytes.ToLower(value), []byte("close"))
		}
	}
	if length < 0 {
		return 0, false, errors.New("response without Content-Length")
	}
	_, err = br.Discard(length)
	return status, closing, err
}

// Quantile is the q-quantile of sorted (nearest rank), 0 when empty.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Micros is d in microseconds.
func Micros(d time.Duration) float64 { return float64(d) / 1e3 }
