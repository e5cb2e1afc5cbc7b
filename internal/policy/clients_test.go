package policy

import (
	"math"
	"testing"
	"time"
)

// event is one request's verdict in a simulation.
type event struct {
	at time.Duration
	v  Verdict
}

// simulate runs clients that each send perSec requests a second from
// `from` to `to` on a fake clock, honouring Pause (a paused client sends
// nothing until its wait is over) and returns each client's verdicts.
func simulate(cs *Clients, cl []*Client, perSec []int, from, to time.Duration, saturated bool) [][]event {
	out := make([][]event, len(cl))
	next := make([]time.Duration, len(cl))
	for i := range next {
		next[i] = from
	}
	const tick = time.Millisecond
	for now := from; now < to; now += tick {
		for i, c := range cl {
			if perSec[i] == 0 || now < next[i] {
				continue
			}
			v := cs.Request(c, int64(now), saturated)
			out[i] = append(out[i], event{now, v})
			next[i] = now + time.Second/time.Duration(perSec[i])
			if v.Decision == Pause {
				next[i] = now + v.Wait
			}
		}
	}
	return out
}

func connectAll(t *testing.T, cs *Clients, n int) []*Client {
	t.Helper()
	cl := make([]*Client, n)
	for i := range cl {
		c, v := cs.Connect(key(i), 0)
		if v.Decision != Serve {
			t.Fatalf("Connect(%d) = %v", i, v.Decision)
		}
		cl[i] = c
	}
	return cl
}

func first(evs []event, d Decision) (time.Duration, bool) {
	for _, e := range evs {
		if e.v.Decision == d {
			return e.at, true
		}
	}
	return 0, false
}

func onlyServe(t *testing.T, name string, evs []event) {
	t.Helper()
	for _, e := range evs {
		if e.v.Decision != Serve {
			t.Errorf("%s got %v at %v", name, e.v.Decision, e.at)
			return
		}
	}
}

func TestClientsGreedy(t *testing.T) {
	tests := []struct {
		name        string
		perSec      []int
		saturated   bool
		greedy      int           // index of the greedy client, -1 for none
		wantPauseBy time.Duration // first Pause no later than this
	}{
		{"not saturated: nobody is judged", []int{5, 200, 5}, false, -1, 0},
		{"lone client is never greedy", []int{200}, true, -1, 0},
		{"two polite clients", []int{5, 8}, true, -1, 0},
		{"many polite clients", []int{5, 6, 7, 8, 9, 10, 5, 5}, true, -1, 0},
		{"one greedy among two", []int{5, 100}, true, 1, time.Second},
		{"one greedy among three", []int{5, 100, 5}, true, 1, time.Second},
		{"one greedy among ten", []int{5, 5, 5, 5, 5, 5, 5, 5, 5, 40}, true, 9, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cs Clients
			cl := connectAll(t, &cs, len(tt.perSec))
			evs := simulate(&cs, cl, tt.perSec, 0, 30*time.Second, tt.saturated)
			for i := range cl {
				if i != tt.greedy {
					onlyServe(t, key(i).String(), evs[i])
				}
			}
			if tt.greedy < 0 {
				return
			}
			g := evs[tt.greedy]
			pause, ok := first(g, Pause)
			if !ok || pause > tt.wantPauseBy {
				t.Fatalf("first Pause at %v (%v), want by %v", pause, ok, tt.wantPauseBy)
			}
			if reject, _ := first(g, Reject503); reject != 0 && reject < pause {
				t.Fatalf("Reject503 at %v before the first Pause at %v", reject, pause)
			}
			reject, ok := first(g, Reject503)
			if !ok {
				t.Fatal("a client greedy for 30 s was never rejected")
			}
			// The first request after RejectAfter is rejected; a paused
			// client sends none until its pause (at most Window) is over.
			if reject < pause+DefaultRejectAfter || reject > pause+DefaultRejectAfter+DefaultClientWindow {
				t.Errorf("first Reject503 at %v, want %v to %v after the first Pause at %v",
					reject, DefaultRejectAfter, DefaultRejectAfter+DefaultClientWindow, pause)
			}
			for _, e := range g {
				switch e.v.Decision {
				case Pause:
					if e.v.Wait < MinPause || e.v.Wait > DefaultClientWindow {
						t.Errorf("Pause wait %v out of [%v, %v]", e.v.Wait, MinPause, DefaultClientWindow)
					}
				case Reject503:
					if e.v.RetryAfter < MinRetryAfter || e.v.RetryAfter > MaxRetryAfter {
						t.Errorf("Retry-After %d out of range", e.v.RetryAfter)
					}
				}
			}
		})
	}
}

// TestClientsForgiveness: a client paused for greed that slows down to the
// others' pace is forgiven before RejectAfter, and a later burst starts
// again with Pause, not with Reject503.
func TestClientsForgiveness(t *testing.T) {
	var cs Clients
	cl := connectAll(t, &cs, 3)
	burst := simulate(&cs, cl, []int{5, 100, 5}, 0, 5*time.Second, true)
	if _, ok := first(burst[1], Pause); !ok {
		t.Fatal("burst was not paused")
	}
	if !cl[1].greedy {
		t.Fatal("client not marked greedy")
	}
	// At the others' pace its score, still high, may earn one more Pause
	// at first, but never a 503, and it is forgiven within a Window.
	calm := simulate(&cs, cl, []int{5, 5, 5}, 5*time.Second, 15*time.Second, true)
	if at, ok := first(calm[1], Reject503); ok {
		t.Fatalf("slowed-down client rejected at %v", at)
	}
	if cl[1].greedy {
		t.Fatal("client still greedy after 10 s at the others' pace")
	}
	calm = simulate(&cs, cl, []int{5, 5, 5}, 15*time.Second, 40*time.Second, true)
	for i := range cl {
		onlyServe(t, key(i).String(), calm[i])
	}
	again := simulate(&cs, cl, []int{5, 100, 5}, 40*time.Second, 45*time.Second, true)
	if _, ok := first(again[1], Reject503); ok {
		t.Error("a forgiven client was rejected without a Pause first")
	}
	if _, ok := first(again[1], Pause); !ok {
		t.Error("second burst was not paused")
	}
}

// TestClientsSaturationEnds: once the server is no longer saturated, a
// greedy client is served and its greed forgotten.
func TestClientsSaturationEnds(t *testing.T) {
	var cs Clients
	cl := connectAll(t, &cs, 2)
	simulate(&cs, cl, []int{5, 100}, 0, 20*time.Second, true)
	if !cl[1].greedy {
		t.Fatal("client not greedy")
	}
	calm := simulate(&cs, cl, []int{5, 100}, 20*time.Second, 21*time.Second, false)
	onlyServe(t, "greedy client, server calm", calm[1])
	if cl[1].greedy {
		t.Error("greed not forgotten")
	}
}

// TestClientsReconnectKeepsScore: closing every connection and coming back
// does not wipe a greedy client's record while it is still active (§9: a
// server that drops a client cannot tell it from any other; keying by
// address can).
func TestClientsReconnectKeepsScore(t *testing.T) {
	var cs Clients
	cl := connectAll(t, &cs, 2)
	simulate(&cs, cl, []int{5, 100}, 0, 2*time.Second, true)
	before := cs.Score(cl[1], int64(2*time.Second))
	cs.Disconnect(cl[1], int64(2*time.Second))
	c, v := cs.Connect(key(1), int64(2*time.Second))
	if v.Decision != Serve || c != cl[1] {
		t.Fatalf("reconnect got %v, new record %v", v.Decision, c != cl[1])
	}
	if got := cs.Score(c, int64(2*time.Second)); got != before {
		t.Errorf("score after reconnect %v, want %v", got, before)
	}
}

func TestClientsConnCap(t *testing.T) {
	tests := []struct {
		name     string
		cap      int
		connects int
		want     int // connections accepted
	}{
		{"default 256", 0, 300, DefaultMaxConnsPerClient},
		{"custom 3", 3, 5, 3},
		{"no cap", -1, 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := Clients{MaxConnsPerClient: tt.cap}
			var held []*Client
			for i := range tt.connects {
				c, v := cs.Connect(key(0), int64(i))
				if c == nil {
					if v.Decision != Reject503 || v.RetryAfter < MinRetryAfter || v.RetryAfter > MaxRetryAfter {
						t.Fatalf("refusal was %+v", v)
					}
					continue
				}
				held = append(held, c)
			}
			if len(held) != tt.want {
				t.Fatalf("accepted %d, want %d", len(held), tt.want)
			}
			// Other clients are unaffected.
			if _, v := cs.Connect(key(1), 0); v.Decision != Serve {
				t.Errorf("another client got %v", v.Decision)
			}
			// One closes, one more may come.
			cs.Disconnect(held[0], 0)
			if _, v := cs.Connect(key(0), 0); v.Decision != Serve {
				t.Errorf("after a close got %v", v.Decision)
			}
		})
	}
}

// TestClientsRecordsFreed: a client's record lives while it has a
// connection or was active within Window, then is recycled.
func TestClientsRecordsFreed(t *testing.T) {
	const s = int64(time.Second)
	var cs Clients
	a, _ := cs.Connect(key(0), 0)
	b, _ := cs.Connect(key(1), 0)
	cs.Request(a, 1*s, false)
	cs.Request(b, 1*s, false)
	if cs.Len() != 2 || cs.Active() != 2 {
		t.Fatalf("Len %d Active %d", cs.Len(), cs.Active())
	}
	cs.Disconnect(a, 2*s) // still active: record kept
	if cs.Len() != 2 {
		t.Fatalf("record dropped while active: Len %d", cs.Len())
	}
	cs.Request(b, 12*s, false) // a is stale now
	if cs.Len() != 1 || cs.Active() != 1 {
		t.Fatalf("after window: Len %d Active %d", cs.Len(), cs.Active())
	}
	cs.Disconnect(b, 30*s) // b goes stale and connectionless: expire frees it
	if cs.Len() != 0 || cs.Active() != 0 {
		t.Fatalf("at the end: Len %d Active %d", cs.Len(), cs.Active())
	}
	if cs.nfree != 2 {
		t.Errorf("free records %d, want 2", cs.nfree)
	}
	c, _ := cs.Connect(key(5), 31*s)
	if c.Conns() != 1 || c.Key() != key(5) || cs.Score(c, 31*s) != 0 || cs.nfree != 1 {
		t.Errorf("recycled record not clean: %+v", *c)
	}
}

func TestClientsDisconnectMisuse(t *testing.T) {
	var cs, other Clients
	c, _ := cs.Connect(key(0), 0)
	defer func() {
		if recover() == nil {
			t.Error("Disconnect through the wrong Clients did not panic")
		}
	}()
	other.Disconnect(c, 0)
}

func TestClientsScoreDecays(t *testing.T) {
	const s = int64(time.Second)
	var cs Clients
	c, _ := cs.Connect(key(0), 0)
	for range 100 {
		cs.Request(c, 0, false)
	}
	tests := []struct {
		at   int64
		want float64
	}{
		{0, 100}, {10 * s, 36.7879}, {20 * s, 13.5335}, {100 * s, 0.00454},
	}
	for _, tt := range tests {
		if got := cs.Score(c, tt.at); got < tt.want*0.999 || got > tt.want*1.001 {
			t.Errorf("Score at %v = %v, want %v", time.Duration(tt.at), got, tt.want)
		}
	}
}

// decay's short-interval form agrees with Exp.
func TestClientsDecayShortIntervals(t *testing.T) {
	var cs Clients
	for _, dt := range []time.Duration{0, time.Microsecond, time.Millisecond, 9 * time.Millisecond, 11 * time.Millisecond, time.Second, time.Minute} {
		got := cs.decay(1000, 0, int64(dt))
		want := 1000 * math.Exp(-float64(dt)/float64(DefaultClientWindow))
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("decay over %v: %v, want %v", dt, got, want)
		}
	}
}

// Requests at one instant (a pipelined batch), interleaved between two
// clients, count in full, keep both active, and expire a Window later.
func TestClientsBatchAtOneInstant(t *testing.T) {
	const s = int64(time.Second)
	var cs Clients
	a, _ := cs.Connect(key(1), 0)
	b, _ := cs.Connect(key(2), 0)
	for i := range 16 {
		cs.Request(a, s, false)
		if i%4 == 0 {
			cs.Request(b, s, false)
		}
	}
	if got := cs.Score(a, s); got != 16 {
		t.Errorf("a's score %v, want 16", got)
	}
	if got := cs.Score(b, s); got != 4 {
		t.Errorf("b's score %v, want 4", got)
	}
	if cs.Active() != 2 {
		t.Errorf("active %d, want 2", cs.Active())
	}
	// The total decays with the scores: b alone later sees a's share gone.
	later := s + 3*int64(DefaultClientWindow)
	cs.Request(b, later, false)
	if cs.Active() != 1 {
		t.Errorf("active %d a Window later, want 1 (a expired)", cs.Active())
	}
	if got, want := cs.Score(b, later), 4*math.Exp(-3)+1; math.Abs(got-want) > 1e-9 {
		t.Errorf("b's score later %v, want %v", got, want)
	}
}
