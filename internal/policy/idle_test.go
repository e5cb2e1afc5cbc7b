package policy

import (
	"math"
	"testing"
	"time"
)

func TestIdleTimeoutAt(t *testing.T) {
	def := IdleTimeout{}
	tests := []struct {
		name string
		t    IdleTimeout
		p    float64
		want time.Duration
	}{
		{"defaults underload", def, 0, 60 * time.Second},
		{"defaults overload", def, 1, 5 * time.Second},
		{"defaults halfway", def, 0.5, 32500 * time.Millisecond},
		{"negative p clamps", def, -3, 60 * time.Second},
		{"p above 1 clamps", def, 7, 5 * time.Second},
		{"NaN is full pressure", def, math.NaN(), 5 * time.Second},
		{"+Inf", def, math.Inf(1), 5 * time.Second},
		{"-Inf", def, math.Inf(-1), 60 * time.Second},
		{"custom", IdleTimeout{Max: 30 * time.Second, Min: 10 * time.Second}, 0.25, 25 * time.Second},
		{"Min above Max clamps to Max", IdleTimeout{Max: 10 * time.Second, Min: 20 * time.Second}, 1, 10 * time.Second},
		{"Min below MinWindow", IdleTimeout{Min: time.Second}, 1, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.At(tt.p); got != tt.want {
				t.Errorf("At(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// TestIdleTimeoutMonotoneContinuous walks p over a fine grid: At never
// rises, and never moves by more than its slope allows (no jumps).
func TestIdleTimeoutMonotoneContinuous(t *testing.T) {
	for _, it := range []IdleTimeout{
		{},
		{Max: 120 * time.Second, Min: time.Second},
		{Max: 3 * time.Second, Min: 3 * time.Second},
		{Max: time.Hour, Min: time.Nanosecond},
	} {
		n := it.WithDefaults()
		const steps = 100000
		slope := float64(n.Max - n.Min) // per unit of p
		prev, prevEff := it.At(-0.01), it.Effective(-0.01)
		for i := 0; i <= steps+10; i++ {
			p := float64(i) / steps
			got, eff := it.At(p), it.Effective(p)
			if got > prev || eff > prevEff {
				t.Fatalf("%+v: not monotone at p=%v: %v > %v", it, p, got, prev)
			}
			if jump := float64(prev - got); jump > slope/steps+1 {
				t.Fatalf("%+v: jump of %v at p=%v", it, time.Duration(jump), p)
			}
			if eff < n.MinWindow || got < n.Min || got > n.Max {
				t.Fatalf("%+v: At(%v) = %v, Effective = %v out of bounds", it, p, got, eff)
			}
			prev, prevEff = got, eff
		}
	}
}

func TestIdleTimeoutExpired(t *testing.T) {
	tests := []struct {
		name    string
		t       IdleTimeout
		idleFor time.Duration
		p       float64
		want    bool
	}{
		{"fresh, underload", IdleTimeout{}, 0, 0, false},
		{"59s underload", IdleTimeout{}, 59 * time.Second, 0, false},
		{"60s underload", IdleTimeout{}, 60 * time.Second, 0, true},
		{"6s overload", IdleTimeout{}, 6 * time.Second, 1, true},
		{"4s overload", IdleTimeout{}, 4 * time.Second, 1, false},
		{"Min 0.1s: MinWindow protects", IdleTimeout{Min: 100 * time.Millisecond}, time.Second, 1, false},
		{"Min 0.1s: past MinWindow", IdleTimeout{Min: 100 * time.Millisecond}, 2 * time.Second, 1, true},
		{"custom MinWindow", IdleTimeout{Min: 100 * time.Millisecond, MinWindow: 500 * time.Millisecond}, 400 * time.Millisecond, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.Expired(tt.idleFor, tt.p); got != tt.want {
				t.Errorf("Expired(%v, %v) = %v, want %v", tt.idleFor, tt.p, got, tt.want)
			}
		})
	}
}

func TestKeepAliveSeconds(t *testing.T) {
	tests := []struct {
		name string
		t    IdleTimeout
		p    float64
		want int
	}{
		{"underload", IdleTimeout{}, 0, 60},
		{"overload", IdleTimeout{}, 1, 5},
		{"rounds down", IdleTimeout{}, 0.5, 32},
		{"rounds down just under two seconds", IdleTimeout{Max: 1999 * time.Millisecond, Min: 1999 * time.Millisecond, MinWindow: time.Second}, 0, 1},
		{"under a second: no promise", IdleTimeout{Max: 300 * time.Millisecond, Min: 100 * time.Millisecond, MinWindow: 200 * time.Millisecond}, 1, 0},
		{"advertises MinWindow when it is the floor", IdleTimeout{Min: 100 * time.Millisecond, MinWindow: 3 * time.Second}, 1, 3},
		{"huge", IdleTimeout{Max: 1 << 62, Min: 1 << 62}, 0, math.MaxInt32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.KeepAliveSeconds(tt.p); got != tt.want {
				t.Errorf("KeepAliveSeconds(%v) = %d, want %d", tt.p, got, tt.want)
			}
		})
	}
	// The advertised value never exceeds what the server enforces.
	it := IdleTimeout{}
	for i := 0; i <= 1000; i++ {
		p := float64(i) / 1000
		if got := time.Duration(it.KeepAliveSeconds(p)) * time.Second; got > it.Effective(p) {
			t.Fatalf("p=%v: advertised %v > enforced %v", p, got, it.Effective(p))
		}
	}
}
