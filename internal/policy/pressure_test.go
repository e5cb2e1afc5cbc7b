package policy

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRamp(t *testing.T) {
	tests := []struct {
		name        string
		used, limit int64
		low, want   float64
	}{
		{"unknown limit", 100, 0, 0.5, 0},
		{"negative limit", 100, -1, 0.5, 0},
		{"nothing used", 0, 100, 0.5, 0},
		{"negative use", -5, 100, 0.5, 0},
		{"below watermark", 30, 100, 0.5, 0},
		{"at watermark", 50, 100, 0.5, 0},
		{"halfway up the ramp", 75, 100, 0.5, 0.5},
		{"just below limit", 99, 100, 0.5, 0.98},
		{"at limit", 100, 100, 0.5, 1},
		{"over limit", 150, 100, 0.5, 1},
		{"zero watermark is linear", 25, 100, 0, 0.25},
		{"watermark 1 is a step, below", 99, 100, 1, 0},
		{"watermark 1 is a step, at", 100, 100, 1, 1},
		{"NaN watermark below limit", 99, 100, math.NaN(), 0},
		{"huge values", 3 << 40, 4 << 40, 0.5, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ramp(tt.used, tt.limit, tt.low); !near(got, tt.want) {
				t.Errorf("Ramp(%d, %d, %v) = %v, want %v", tt.used, tt.limit, tt.low, got, tt.want)
			}
		})
	}
}

func TestRampMonotoneContinuous(t *testing.T) {
	const limit = 10000
	prev := 0.0
	for used := int64(0); used <= limit+10; used++ {
		got := Ramp(used, limit, LowWatermark)
		if got < prev {
			t.Fatalf("Ramp(%d) = %v < Ramp(%d) = %v", used, got, used-1, prev)
		}
		// One unit of use moves p by at most 1/(limit*(1-low)).
		if got-prev > 1/(limit*(1-LowWatermark))+1e-12 {
			t.Fatalf("Ramp jumps at %d: %v -> %v", used, prev, got)
		}
		prev = got
	}
}

func TestPressure(t *testing.T) {
	tests := []struct {
		name    string
		load    Load
		want    float64 // Pressure
		wantSat float64 // Saturation
	}{
		{"zero load, no limits", Load{}, 0, 0},
		{"everything below watermarks", Load{
			Conns: 400, MaxConns: 1000, FDs: 500, MaxFDs: 1024,
			MemBytes: 100 << 20, MemBudget: 1 << 30,
			BusyWorkers: 10, MaxWorkers: 64, RunQueue: 3, MaxRunQueue: 1024,
		}, 0, 0},
		{"slots bind: pressure but no saturation", Load{
			Conns: 900, MaxConns: 1000, BusyWorkers: 1, MaxWorkers: 64,
		}, 0.8, 0},
		{"descriptors bind", Load{
			Conns: 10, MaxConns: 1000, FDs: 1024, MaxFDs: 1024,
		}, 1, 0},
		{"memory binds both", Load{
			Conns: 600, MaxConns: 1000, MemBytes: 900, MemBudget: 1000,
		}, 0.8, 0.8},
		{"workers saturated", Load{BusyWorkers: 64, MaxWorkers: 64}, 1, 1},
		{"run queue three quarters", Load{RunQueue: 750, MaxRunQueue: 1000}, 0.5, 0.5},
		{"max, not mean", Load{
			Conns: 1000, MaxConns: 1000, FDs: 0, MaxFDs: 1 << 20,
			MemBytes: 0, MemBudget: 1 << 30, BusyWorkers: 0, MaxWorkers: 64,
		}, 1, 0},
		{"memory over budget clamps", Load{MemBytes: 3 << 30, MemBudget: 1 << 30}, 1, 1},
		{"CPU: scheduling delay below watermark", Load{SchedDelay: 5e6, MaxSchedDelay: 20e6}, 0, 0},
		{"CPU: scheduling delay three quarters", Load{SchedDelay: 15e6, MaxSchedDelay: 20e6}, 0.5, 0.5},
		{"CPU saturated with few workers busy", Load{BusyWorkers: 50, MaxWorkers: 10000, SchedDelay: 40e6, MaxSchedDelay: 20e6}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pressure(tt.load); !near(got, tt.want) {
				t.Errorf("Pressure = %v, want %v (%+v)", got, tt.want, tt.load.Pressures())
			}
			if got := Saturation(tt.load); !near(got, tt.wantSat) {
				t.Errorf("Saturation = %v, want %v (%+v)", got, tt.wantSat, tt.load.Pressures())
			}
		})
	}
}

func TestPressuresBreakdown(t *testing.T) {
	l := Load{Conns: 750, MaxConns: 1000, FDs: 800, MaxFDs: 1000, MemBytes: 70, MemBudget: 100,
		BusyWorkers: 9, MaxWorkers: 10, RunQueue: 1, MaxRunQueue: 2}
	got := l.Pressures()
	want := Pressures{Conns: 0.5, FDs: 0.6, Mem: 0.4, Workers: 0.8, RunQueue: 0}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"Conns", got.Conns, want.Conns}, {"FDs", got.FDs, want.FDs}, {"Mem", got.Mem, want.Mem},
		{"Workers", got.Workers, want.Workers}, {"RunQueue", got.RunQueue, want.RunQueue},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestHeldLeavesOutTheCPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		ps   Pressures
		held float64
	}{
		{"a CPU spike alone moves nothing", Pressures{CPU: 1}, 0},
		{"slots", Pressures{Conns: 0.5, CPU: 1}, 0.5},
		{"the scarcest of the rest", Pressures{FDs: 0.2, Mem: 0.7, Workers: 0.4, RunQueue: 0.1}, 0.7},
		{"queue", Pressures{RunQueue: 0.9, CPU: 0.3}, 0.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ps.Held(); got != tc.held {
				t.Fatalf("Held = %v, want %v", got, tc.held)
			}
			if tc.ps.Max() < tc.ps.Held() {
				t.Fatal("Held above Max")
			}
		})
	}
}
