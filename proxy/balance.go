package proxy

import (
	"net/url"
	"sync/atomic"
	"time"
)

// upstream is one origin of a route.
type upstream struct {
	url       *url.URL     // Immutable.
	active    atomic.Int64 // requests in flight to it
	downUntil atomic.Int64 // Unix nanoseconds; skipped until then (passive health)
}

func (u *upstream) down(now int64) bool { return u.downUntil.Load() > now }

func (u *upstream) markDown(d time.Duration) { u.downUntil.Store(time.Now().Add(d).UnixNano()) }

func (u *upstream) markUp() {
	if u.downUntil.Load() != 0 {
		u.downUntil.Store(0)
	}
}

// pick chooses an upstream not yet tried for this request: round robin or
// least requests in flight among the healthy ones. When every untried
// upstream is marked down it still returns one (the one whose mark ends
// first), so that a recovered upstream is found by the next request rather
// than after the fail timeout. tried is updated.
func (p *Proxy) pick(tried []bool) *upstream {
	n := len(p.ups)
	start := int(p.rr.Add(1) % uint64(n))
	var now int64 // read once, when an upstream has been marked down
	best := -1
	for i := 0; i < n; i++ {
		j := (start + i) % n
		u := p.ups[j]
		if tried[j] {
			continue
		}
		if u.downUntil.Load() != 0 {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			if u.down(now) {
				continue
			}
		}
		if p.Balance == RoundRobin {
			best = j
			break
		}
		if best < 0 || u.active.Load() < p.ups[best].active.Load() {
			best = j
		}
	}
	if best < 0 {
		for j, u := range p.ups {
			if !tried[j] && (best < 0 || u.downUntil.Load() < p.ups[best].downUntil.Load()) {
				best = j
			}
		}
	}
	tried[best] = true
	return p.ups[best]
}
