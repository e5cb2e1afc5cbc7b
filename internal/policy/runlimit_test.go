package policy

import (
	"testing"
	"time"
)

func TestRunLimit(t *testing.T) {
	const ms = time.Millisecond
	type step struct {
		delay   time.Duration
		running int
		waiting bool
		want    int
	}
	base := RunLimit{Floor: 8, Max: 1000, High: 2 * ms, Low: ms / 2}
	tests := []struct {
		name  string
		r     RunLimit
		steps []step
	}{
		{"no pressure stays at max", base, []step{{0, 5, false, 1000}, {ms, 900, true, 1000}, {ms / 4, 1000, true, 1000}}},
		{"just over the target: 3/4 of what runs", base, []step{{3 * ms, 200, false, 133}, {5 * ms / 2, 133, true, 99}}},
		{"far over the target: in proportion, in one tick", base, []step{{100 * ms, 200, true, 8}}},
		{"proportional cut", base, []step{{8 * ms, 400, true, 100}, {4 * ms, 100, true, 50}}},
		{"not below the floor", base, []step{{3 * ms, 10, true, 8}, {50 * ms, 8, true, 8}}},
		{"fewer running than the bound: cut from the running", base, []step{{4 * ms, 100, true, 50}, {4 * ms, 20, true, 10}}},
		{"between the marks holds", base, []step{{4 * ms, 100, true, 50}, {ms, 50, true, 50}, {2 * ms, 50, false, 50}}},
		{"low delay with waiters doubles back to max", base, []step{{100 * ms, 16, true, 8}, {0, 8, true, 16}, {0, 16, true, 32}, {0, 3, true, 64}, {0, 3, true, 128}, {0, 3, true, 256}, {0, 3, true, 512}, {0, 3, true, 1000}}},
		{"low delay without waiters creeps back", base, []step{{100 * ms, 16, true, 8}, {0, 0, false, 10}, {0, 0, false, 12}, {0, 0, false, 15}, {0, 0, true, 30}}},
		{"floor above max clamps to max", RunLimit{Floor: 50, Max: 10, High: ms, Low: 0}, []step{{5 * ms, 10, true, 10}}},
		{"floor zero means one", RunLimit{Max: 4, High: ms, Low: 0}, []step{{5 * ms, 1, true, 1}, {5 * ms, 0, true, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.Reset()
			for i, s := range tt.steps {
				if got := r.Update(s.delay, s.running, s.waiting); got != s.want || r.Limit() != got {
					t.Fatalf("step %d: Update(%v, %d, %v) = %d (Limit %d), want %d", i, s.delay, s.running, s.waiting, got, r.Limit(), s.want)
				}
			}
		})
	}
}
