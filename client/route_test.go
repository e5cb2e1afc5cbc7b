package client

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// The route cache holds four origins: requests to six, in turn, each reach
// their own (the cache's hits, its misses when full, and its growth), and
// each origin's pool reuses its one connection.
func TestRouteCacheManyOrigins(t *testing.T) {
	var urls []string
	for i := 0; i < 6; i++ {
		m := startMock(t, func(m *mock, _ int, c net.Conn, br *bufio.Reader) {
			for {
				if _, _, err := m.readReq(br); err != nil {
					return
				}
				io.WriteString(c, ok200(strconv.Itoa(i)))
			}
		})
		urls = append(urls, m.url("/"))
	}
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for round := 0; round < 3; round++ {
		for i, u := range urls {
			if body, _ := get(t, c, u); body != strconv.Itoa(i) {
				t.Fatalf("round %d: %s answered by origin %s", round, u, body)
			}
		}
	}
	if st := tr.Stats(); st.ConnsOpened != 6 {
		t.Fatalf("%d connections for 6 origins", st.ConnsOpened)
	}
}
