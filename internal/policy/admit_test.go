package policy

import (
	"math"
	"testing"
	"time"
)

func TestAdmit(t *testing.T) {
	tests := []struct {
		name            string
		conns, maxConns int
		haveVictim      bool
		want            Decision
	}{
		{"no limit", 1 << 20, 0, false, Serve},
		{"negative limit is no limit", 5, -1, false, Serve},
		{"room left", 999, 1000, false, Serve},
		{"room left, idle around", 10, 1000, true, Serve},
		{"full, idle victim", 1000, 1000, true, ShedIdle},
		{"full, no victim", 1000, 1000, false, Reject503},
		{"over limit (limit lowered), victim", 1200, 1000, true, ShedIdle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Admit(tt.conns, tt.maxConns, tt.haveVictim); got != tt.want {
				t.Errorf("Admit(%d, %d, %v) = %v, want %v", tt.conns, tt.maxConns, tt.haveVictim, got, tt.want)
			}
		})
	}
}

// TestAdmitWhoIsShed runs the admission path end to end: a full server
// whose idle connections went idle at different times takes newcomers by
// shedding the least recently used, skips those inside MinWindow, and
// answers 503 when none is left.
func TestAdmitWhoIsShed(t *testing.T) {
	const s = int64(time.Second)
	var idle IdleList[conn]
	cs := newConns(4)
	// Four connections, all idle: conn 0 since 1 s, conn 2 since 2 s, conn 1
	// since 3 s and again (after one more request) since 4 s, conn 3 since 9 s.
	for _, e := range []struct{ id, at int64 }{{0, 1}, {2, 2}, {1, 3}, {1, 4}, {3, 9}} {
		idle.PushMRU(&cs[e.id].idle, e.at*s)
	}
	const maxConns = 4
	conns := 4
	now := 10 * s
	it := IdleTimeout{}.WithDefaults()
	var got []int
	var decisions []Decision
	for range 5 {
		v := idle.Victim(ShedLRU, nil, now, it.MinWindow)
		d := Admit(conns, maxConns, v != nil)
		decisions = append(decisions, d)
		if d == ShedIdle {
			idle.Remove(v)
			got = append(got, v.Value.id)
			// the shed connection closes, the newcomer takes its slot and
			// is busy (not idle).
		}
	}
	wantShed := []int{0, 2, 1}
	wantDec := []Decision{ShedIdle, ShedIdle, ShedIdle, Reject503, Reject503}
	if len(got) != len(wantShed) {
		t.Fatalf("shed %v, want %v", got, wantShed)
	}
	for i := range got {
		if got[i] != wantShed[i] {
			t.Errorf("shed %v, want %v", got, wantShed)
		}
	}
	for i := range decisions {
		if decisions[i] != wantDec[i] {
			t.Errorf("decisions %v, want %v", decisions, wantDec)
			break
		}
	}
	if idle.Len() != 1 || idle.Oldest().Value.id != 3 {
		t.Errorf("conn 3 (idle 1 s, inside MinWindow) should be left")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 1}, {0, 1}, {time.Nanosecond, 1}, {time.Second, 1},
		{time.Second + 1, 2}, {90 * time.Second, 90}, {120 * time.Second, 120},
		{121 * time.Second, 120}, {math.MaxInt64, 120},
	}
	for _, tt := range tests {
		if got := RetryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestDrainRate(t *testing.T) {
	const s = int64(time.Second)
	alpha := -math.Expm1(-0.1) // default window / smoothing
	type feed struct {
		at int64 // when
		n  int   // completions
	}
	tests := []struct {
		name     string
		feeds    []feed
		now      int64
		backlog  int
		wantRate float64
		wantOK   bool
		wantRA   int
	}{
		{"no data", nil, 0, 10, 0, false, MinRetryAfter},
		{"first window still open", []feed{{0, 0}, {s / 2, 100}}, s - 1, 10, 0, false, MinRetryAfter},
		{"first window seeds", []feed{{0, 0}, {s / 2, 100}}, s, 99, 100, true, 1},
		{"backlog over rate", []feed{{0, 0}, {s / 2, 100}}, s, 999, 100, true, 10},
		{"second window blends", []feed{{0, 0}, {s / 2, 100}, {s + 1, 200}}, 2 * s, 0, 100 + alpha*100, true, 1},
		{"stall decays", []feed{{0, 0}, {s / 2, 100}}, 11 * s, 199, 100 * math.Pow(1-alpha, 10), true, 6},
		{"long stall clamps", []feed{{0, 0}, {s / 2, 100}}, 1000 * s, 10, 100 * math.Pow(1-alpha, 999), true, MaxRetryAfter},
		{"never completes anything", []feed{{0, 0}}, 5 * s, 0, 0, true, MaxRetryAfter},
		{"negative backlog", []feed{{0, 0}, {s / 2, 1}}, s, -5, 1, true, 1},
		{"clock going back is ignored", []feed{{0, 0}, {s / 2, 10}, {s / 4, 10}}, s, 0, 20, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DrainRate
			for _, f := range tt.feeds {
				d.Done(f.at, f.n)
			}
			rate, ok := d.Rate(tt.now)
			if ok != tt.wantOK || math.Abs(rate-tt.wantRate) > 1e-9*max(1, tt.wantRate) {
				t.Errorf("Rate = %v, %v; want %v, %v", rate, ok, tt.wantRate, tt.wantOK)
			}
			if got := d.RetryAfter(tt.now, tt.backlog); got != tt.wantRA {
				t.Errorf("RetryAfter(%d) = %d, want %d", tt.backlog, got, tt.wantRA)
			}
		})
	}
}

// TestDrainRateConverges feeds a steady 50/s, then 5/s, and checks that the
// estimate follows within the smoothing horizon.
func TestDrainRateConverges(t *testing.T) {
	var d DrainRate
	now := int64(0)
	step := func(perSec int, secs int) {
		for range secs * perSec {
			now += int64(time.Second) / int64(perSec)
			d.Done(now, 1)
		}
	}
	step(50, 60)
	if r, _ := d.Rate(now); math.Abs(r-50) > 1 {
		t.Fatalf("after 60 s at 50/s, rate %v", r)
	}
	step(5, 60) // six time constants
	if r, _ := d.Rate(now); math.Abs(r-5) > 0.5 {
		t.Fatalf("after 60 s at 5/s, rate %v", r)
	}
	if got := d.RetryAfter(now, 49); got != 10 {
		t.Errorf("RetryAfter(49) at 5/s = %d, want 10", got)
	}
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[Decision]string{
		Serve: "serve", ShedIdle: "shed_idle", Pause: "pause", Reject503: "reject_503", 200: "Decision(200)",
	} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", d, got, want)
		}
	}
}
