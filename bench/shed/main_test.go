package main

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// stillOpen must see the server's FIN on a kept connection without
// waiting, and must not mistake a quiet open connection for a closed one:
// the "found closed" and "reuse" columns rest on it.
func TestStillOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv := <-accepted
	v := &visitor{conn: conn, br: bufio.NewReader(conn)}

	start := time.Now()
	if !v.stillOpen() {
		t.Fatal("an open, quiet connection was reported closed")
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("stillOpen waited %v", d)
	}
	srv.Close()
	deadline := time.Now().Add(2 * time.Second)
	for v.stillOpen() {
		if time.Now().After(deadline) {
			t.Fatal("the server's close was never seen")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
