//go:build !race

package policy

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAllocs holds the keep-alive path's policy calls to zero allocations
// in steady state (after the first use of each client key and list).
// Outside -race, which allocates on its own.
func TestAllocs(t *testing.T) {
	tests := []struct {
		name string
		run  func() func() // setup, returning one steady-state step
	}{
		{"IdleList cycle", func() func() {
			l, cs, now := idleFixture(1000)
			i := 0
			return func() {
				c := cs[i%len(cs)]
				l.Remove(&c.idle)
				now++
				l.PushMRU(&c.idle, now)
				i++
			}
		}},
		{"IdleList expire and shed", func() func() {
			l, _, now := idleFixture(1000)
			rng := rand.New(rand.NewPCG(1, 2))
			it := IdleTimeout{}
			return func() {
				now += int64(time.Millisecond)
				if n := l.Expired(now, it.Effective(0.5)); n != nil {
					l.PushMRU(n, now)
				}
				if v := l.Victim(ShedRandom, rng, now, DefaultMinWindow); v != nil {
					l.Remove(v)
					l.PushMRU(v, now)
				}
			}
		}},
		{"Scheduler pop and push", func() func() {
			s, _ := schedFixture(100, 10)
			return func() {
				j := s.Pop().Value
				s.Push(&j.node, key(j.client))
			}
		}},
		{"Scheduler client churn", func() func() {
			s, _ := schedFixture(100, 1)
			gen := 0
			return func() {
				j := s.Pop().Value
				gen++
				j.client = gen % 300
				s.Push(&j.node, key(j.client))
			}
		}},
		{"Clients request", func() func() {
			var cs Clients
			cl := make([]*Client, 50)
			for i := range cl {
				cl[i], _ = cs.Connect(key(i), 0)
			}
			now, i := int64(0), 0
			return func() {
				now += int64(time.Millisecond)
				cs.Request(cl[i%len(cl)], now, true)
				i++
			}
		}},
		{"Clients connect churn", func() func() {
			var cs Clients
			now, i := int64(0), 0
			return func() {
				now += int64(time.Millisecond)
				c, _ := cs.Connect(key(i%300), now)
				cs.Request(c, now, false)
				cs.Disconnect(c, now)
				i++
			}
		}},
		{"pressure, timeout, gate, drain, counters", func() func() {
			l := Load{Conns: 900, MaxConns: 1000, BusyWorkers: 60, MaxWorkers: 64}
			it := IdleTimeout{}
			var g CloseGate
			var d DrainRate
			var c Counters
			now := int64(0)
			return func() {
				now += int64(10 * time.Millisecond)
				p := Pressure(l)
				_ = it.KeepAliveSeconds(p)
				_ = it.Expired(time.Second, p)
				_ = g.CloseAfterResponse(Saturation(l))
				d.Done(now, 1)
				_ = d.RetryAfter(now, 5)
				c.Close(CloseIdleTimeout)
				c.Decide(Admit(1000, 1000, true))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := tt.run()
			for range 10000 { // warm up: every key seen, lists and maps grown
				step()
			}
			if n := testing.AllocsPerRun(10000, step); n != 0 {
				t.Errorf("%v allocs per step, want 0", n)
			}
		})
	}
}
