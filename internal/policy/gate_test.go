package policy

import (
	"math"
	"testing"
)

func TestCloseGate(t *testing.T) {
	tests := []struct {
		name string
		gate CloseGate
		seq  []float64
		want []bool
	}{
		{"stays open under load", CloseGate{}, []float64{0, 0.5, 0.89}, []bool{false, false, false}},
		{"engages at high", CloseGate{}, []float64{0.5, 0.9, 1}, []bool{false, true, true}},
		{"hysteresis holds between marks", CloseGate{}, []float64{0.95, 0.8, 0.7, 0.85}, []bool{true, true, true, true}},
		{"disengages below low", CloseGate{}, []float64{0.95, 0.69, 0.85, 0.9}, []bool{true, false, false, true}},
		{"custom marks", CloseGate{High: 0.5, Low: 0.2}, []float64{0.5, 0.3, 0.1}, []bool{true, true, false}},
		{"low above high clamps (no hysteresis)", CloseGate{High: 0.5, Low: 0.8}, []float64{0.6, 0.49}, []bool{true, false}},
		{"NaN is saturated", CloseGate{}, []float64{math.NaN()}, []bool{true}},
		{"above 1 clamps", CloseGate{}, []float64{3}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.gate
			for i, s := range tt.seq {
				if got := g.CloseAfterResponse(s); got != tt.want[i] || g.Closing() != got {
					t.Errorf("step %d: CloseAfterResponse(%v) = %v (Closing %v), want %v", i, s, got, g.Closing(), tt.want[i])
				}
			}
		})
	}
}

// TestCloseGateIgnoresIdleSlots: a full house of idle keep-alive
// connections is pressure but not saturation, so responses keep their
// connections.
func TestCloseGateIgnoresIdleSlots(t *testing.T) {
	l := Load{Conns: 1000, MaxConns: 1000, FDs: 1010, MaxFDs: 1024, BusyWorkers: 1, MaxWorkers: 64}
	var g CloseGate
	if p := Pressure(l); p != 1 {
		t.Fatalf("Pressure = %v, want 1", p)
	}
	if g.CloseAfterResponse(Saturation(l)) {
		t.Error("idle slots closed a connection")
	}
	l.BusyWorkers = 64
	if !g.CloseAfterResponse(Saturation(l)) {
		t.Error("saturated workers did not close")
	}
}
