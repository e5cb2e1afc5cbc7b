package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// idleFixture is n idle connections, last used 1 µs apart.
func idleFixture(n int) (*IdleList[conn], []*conn, int64) {
	var l IdleList[conn]
	cs := newConns(n)
	now := int64(0)
	for _, c := range cs {
		now += int64(time.Microsecond)
		l.PushMRU(&c.idle, now)
	}
	return &l, cs, now
}

// BenchmarkIdleListCycle: a connection leaves the idle list for a request
// and comes back (Remove + PushMRU), the keep-alive path.
func BenchmarkIdleListCycle(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l, cs, now := idleFixture(n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := cs[i%n]
				l.Remove(&c.idle)
				now++
				l.PushMRU(&c.idle, now)
				i++
			}
		})
	}
}

// BenchmarkIdleListExpire: the idle timer pops an expired connection and a
// new one becomes idle.
func BenchmarkIdleListExpire(b *testing.B) {
	l, _, now := idleFixture(10000)
	b.ReportAllocs()
	for b.Loop() {
		now += int64(time.Microsecond)
		n := l.Expired(now, 10*time.Millisecond)
		if n == nil {
			b.Fatal("nothing expired")
		}
		l.PushMRU(n, now)
	}
}

// BenchmarkShed: a full server takes a newcomer by shedding (Victim,
// Remove), and the newcomer later goes idle (PushMRU). LRU vs random.
func BenchmarkShed(b *testing.B) {
	for _, p := range []ShedPolicy{ShedLRU, ShedRandom} {
		b.Run(p.String(), func(b *testing.B) {
			l, _, now := idleFixture(10000)
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				now += int64(time.Microsecond)
				v := l.Victim(p, rng, now+int64(time.Hour), DefaultMinWindow)
				if Admit(10000, 10000, v != nil) != ShedIdle {
					b.Fatal("no victim")
				}
				l.Remove(v)
				l.PushMRU(v, now)
			}
		})
	}
}

// schedFixture queues conns connections for each of clients clients.
func schedFixture(clients, conns int) (*Scheduler[job], [][]*job) {
	var s Scheduler[job]
	per := make([]int, clients)
	for i := range per {
		per[i] = conns
	}
	js := jobs(per...)
	for c := range js {
		for _, j := range js[c] {
			s.Push(&j.node, key(c))
		}
	}
	return &s, js
}

// BenchmarkSchedulerPopPush: a worker takes the next connection and the
// connection's next request is ready again.
func BenchmarkSchedulerPopPush(b *testing.B) {
	for _, sz := range []struct{ clients, conns int }{{1, 1}, {3, 50}, {1000, 1}, {1000, 10}} {
		b.Run(fmt.Sprintf("clients=%d/conns=%d", sz.clients, sz.conns), func(b *testing.B) {
			s, _ := schedFixture(sz.clients, sz.conns)
			b.ReportAllocs()
			for b.Loop() {
				j := s.Pop().Value
				s.Push(&j.node, key(j.client))
			}
		})
	}
}

// BenchmarkSchedulerClientChurn: every pop empties its client's queue, so
// the client record is retired and re-created on the next push: the path
// for single-connection clients.
func BenchmarkSchedulerClientChurn(b *testing.B) {
	s, js := schedFixture(1000, 1)
	_ = js
	b.ReportAllocs()
	gen := 1000
	for b.Loop() {
		j := s.Pop().Value
		gen++
		j.client = gen % 5000 // a different client key most of the time
		s.Push(&j.node, key(j.client))
	}
}

func BenchmarkClientsRequest(b *testing.B) {
	var cs Clients
	cl := make([]*Client, 100)
	for i := range cl {
		cl[i], _ = cs.Connect(key(i), 0)
	}
	now := int64(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now += int64(time.Millisecond)
		cs.Request(cl[i%len(cl)], now, true)
		i++
	}
}

func BenchmarkClientsConnectChurn(b *testing.B) {
	var cs Clients
	now := int64(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now += int64(time.Millisecond)
		c, _ := cs.Connect(key(i%5000), now)
		cs.Request(c, now, false)
		cs.Disconnect(c, now)
		i++
	}
}

func BenchmarkPressure(b *testing.B) {
	l := Load{Conns: 900, MaxConns: 1000, FDs: 950, MaxFDs: 1024, MemBytes: 700 << 20, MemBudget: 1 << 30,
		BusyWorkers: 60, MaxWorkers: 64, RunQueue: 100, MaxRunQueue: 1024}
	it := IdleTimeout{}
	b.ReportAllocs()
	var sink time.Duration
	for b.Loop() {
		sink += it.Effective(Pressure(l))
	}
	_ = sink
}

func BenchmarkDrainRate(b *testing.B) {
	var d DrainRate
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += int64(100 * time.Microsecond)
		d.Done(now, 1)
	}
	_ = d.RetryAfter(now, 10)
}
