package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func TestReqContext(t *testing.T) {
	t.Run("cancel closes Done and sets Err and Cause", func(t *testing.T) {
		c := newReqContext(context.Background())
		if c.Err() != nil {
			t.Fatal("fresh context already ended")
		}
		done := c.Done()
		c.cancel(context.Canceled)
		if !closedWithin(done, time.Second) || !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err %v", c.Err())
		}
		if context.Cause(c) == nil {
			t.Fatal("Cause is nil on a cancelled context")
		}
	})
	t.Run("Done after cancel is closed", func(t *testing.T) {
		c := newReqContext(context.Background())
		c.cancel(context.Canceled)
		if !closedWithin(c.Done(), time.Second) {
			t.Fatal("Done not closed")
		}
	})
	t.Run("parent's end reaches the request", func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		c := newReqContext(parent)
		done := c.Done()
		stop()
		if !closedWithin(done, time.Second) || !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err %v", c.Err())
		}
	})
	t.Run("parent's end seen by Err without Done", func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		c := newReqContext(parent)
		stop()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err %v", c.Err())
		}
	})
	t.Run("derived contexts end with the request", func(t *testing.T) {
		c := newReqContext(context.Background())
		child, stop := context.WithTimeout(c, time.Hour)
		defer stop()
		value := context.WithValue(c, struct{}{}, 1)
		c.cancel(context.Canceled)
		if !closedWithin(child.Done(), time.Second) || !closedWithin(value.Done(), time.Second) {
			t.Fatal("a derived context outlived the request")
		}
	})
	t.Run("AfterFunc runs once, stop prevents it", func(t *testing.T) {
		c := newReqContext(context.Background())
		ran := make(chan struct{}, 2)
		context.AfterFunc(c, func() { ran <- struct{}{} })
		stopped := context.AfterFunc(c, func() { ran <- struct{}{} })
		if !stopped() {
			t.Fatal("stop before cancel returned false")
		}
		c.cancel(context.Canceled)
		c.cancel(context.Canceled)
		if !closedWithin(chanOf(ran), time.Second) {
			t.Fatal("AfterFunc did not run")
		}
		select {
		case <-ran:
			t.Fatal("a stopped AfterFunc ran, or one ran twice")
		case <-time.After(50 * time.Millisecond):
		}
	})
}

func chanOf(ch chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() { <-ch; close(out) }()
	return out
}

func TestConnInfoFromContext(t *testing.T) {
	got := make(chan ConnInfo, 2)
	_, addr := startServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci, ok := ConnInfoFromContext(r.Context())
		if !ok || ci.Remote.String() != r.RemoteAddr {
			t.Errorf("ConnInfo %+v ok=%v, RemoteAddr %s", ci, ok, r.RemoteAddr)
		}
		if id, ok := ConnIDFromContext(r.Context()); !ok || id != ci.ID {
			t.Errorf("ConnIDFromContext %d %v, ConnInfo.ID %d", id, ok, ci.ID)
		}
		got <- ci
	}))
	a, b := dial(t, addr), dial(t, addr)
	a.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	a.response("GET")
	b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b.response("GET")
	if x, y := <-got, <-got; x.ID == y.ID {
		t.Fatalf("two connections share id %d", x.ID)
	}
	if _, ok := ConnInfoFromContext(context.Background()); ok {
		t.Fatal("ConnInfo from a context that has none")
	}
}
