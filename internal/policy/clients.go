package policy

import (
	"math"
	"time"
)

// Defaults for Clients.
const (
	// DefaultClientWindow is the accounting horizon: scores decay by e per
	// window, and a client is active if it made a request within one. Ten
	// seconds averages over a page load's burst, yet forgives a client
	// that has backed off within a few tens of seconds.
	DefaultClientWindow = 10 * time.Second
	// DefaultGreedTolerance is how many times the mean of the other active
	// clients' scores a client may reach before it is greedy. Generous,
	// because one address may hide many users behind a NAT.
	DefaultGreedTolerance = 2.0
	// DefaultGreedFloor is the score (decayed requests, about a request
	// every 0.6 s sustained with the default window) below which no client
	// is greedy, however small the others' scores: it keeps the first
	// requests after a quiet spell from judging anyone.
	DefaultGreedFloor = 16.0
	// DefaultRejectAfter is how long a client may stay greedy, paused time
	// included, before its requests get 503.
	DefaultRejectAfter = 10 * time.Second
	// DefaultMaxConnsPerClient caps one client's open connections. RFC
	// 2616 §8.1.4 asks a user agent for 2; the cap is far above that
	// because one address may be a NAT or a proxy serving many users.
	DefaultMaxConnsPerClient = 256
	// MinPause is the shortest Pause: the event loop's timer resolution
	// (evloop.TickInterval).
	MinPause = 100 * time.Millisecond
	// forgiveFraction: a greedy client is forgiven once its score is back
	// under this fraction of its limit (1.5 times the others' mean with the
	// default tolerance).
	forgiveFraction = 0.75
	// expirePerCall bounds the stale clients one call retires, so no single
	// call pays for a long quiet spell.
	expirePerCall = 8
)

// Client is one client's record in Clients, held by each of its
// connections between Connect and Disconnect.
type Client struct {
	key         ClientKey
	conns       int     // open connections
	score       float64 // requests served, decayed
	scoreAt     int64   // when score was last decayed
	lastReq     int64   // last request, for the active list
	greedySince int64
	greedy      bool
	recent      bool     // in Clients' active list
	prev, next  *Client  // active list, oldest first; next links the free list
	owner       *Clients // for misuse checks
}

// Key is the client's key.
func (c *Client) Key() ClientKey { return c.key }

// Conns is the client's open connections.
func (c *Client) Conns() int { return c.conns }

// Clients keeps per-client accounting against greedy clients (the draft,
// §9): each client's recent requests as an exponentially decaying score,
// and its open connections.
//
// While the server is saturated, a client whose score would pass Tolerance
// times the mean score of the other active clients (and Floor) is greedy:
// it is first paused (the server stops reading it, its TCP window closes:
// the cheap way, which keeps the client recognisable, §9), and if it stays
// greedy for RejectAfter its requests get 503 with Retry-After. It stays
// greedy until its score falls to three quarters of its limit. The
// Scheduler already divides the handlers fairly; this bounds what a greedy
// client makes the server read and buffer.
//
// The share is measured against the others' mean, not the overall mean
// (total / active): the overall mean contains the greedy client itself, so
// with two clients and tolerance 2 nobody could ever be over it.
//
// The zero value is ready to use with the defaults. Owned by one goroutine.
type Clients struct {
	// Window is the decay time constant and the activity horizon.
	// Default DefaultClientWindow (10 s).
	Window time.Duration
	// Tolerance is the multiple of the others' mean score a client may
	// reach. Default DefaultGreedTolerance (2).
	Tolerance float64
	// Floor is the score, in decayed requests, under which no client is
	// greedy. Default DefaultGreedFloor (16).
	Floor float64
	// RejectAfter is how long greed is paused before it is rejected.
	// Default DefaultRejectAfter (10 s).
	RejectAfter time.Duration
	// MaxConnsPerClient caps a client's open connections; a negative value
	// means no cap. Default DefaultMaxConnsPerClient (256).
	MaxConnsPerClient int

	m       map[ClientKey]*Client
	recent  Client // sentinel of the active list: recent.next is the stalest
	nrecent int
	total   float64 // sum of all scores, decayed
	totalAt int64
	free    *Client
	nfree   int
}

func (cs *Clients) window() time.Duration {
	if cs.Window <= 0 {
		return DefaultClientWindow
	}
	return cs.Window
}

// decay returns v, last decayed at from, decayed to now.
func (cs *Clients) decay(v float64, from, now int64) float64 {
	if now <= from || v == 0 {
		return v
	}
	x := float64(now-from) / float64(cs.window())
	if x < 1e-3 {
		// Requests a few milliseconds apart, the common case under load:
		// e^-x to within x³/6 (< 2e-10) without calling Exp.
		return v * (1 - x + x*x/2)
	}
	return v * math.Exp(-x)
}

// Len is the number of client records held: clients with connections
// open or active within the last Window.
func (cs *Clients) Len() int { return len(cs.m) }

// Active is the number of clients that made a request within the last
// Window (as of the last call).
func (cs *Clients) Active() int { return cs.nrecent }

// Score is c's decayed request count at now.
func (cs *Clients) Score(c *Client, now int64) float64 {
	return cs.decay(c.score, c.scoreAt, now)
}

// Connect records a new connection from key and decides on it: Reject503
// if the client is at MaxConnsPerClient (with RetryAfter about one Window,
// since its own connections must close first), else Serve with the record
// the connection keeps until Disconnect. Check it before Admit.
func (cs *Clients) Connect(key ClientKey, now int64) (*Client, Verdict) {
	cs.expire(now)
	c := cs.m[key]
	if c == nil {
		c = cs.alloc(key)
	}
	limit := cs.MaxConnsPerClient
	if limit == 0 {
		limit = DefaultMaxConnsPerClient
	}
	if limit > 0 && c.conns >= limit {
		cs.maybeRelease(c)
		return nil, Verdict{Decision: Reject503, RetryAfter: RetryAfterSeconds(cs.window())}
	}
	c.conns++
	return c, Verdict{Decision: Serve}
}

// Disconnect records that one of c's connections closed. c must not be
// used by that connection afterwards.
func (cs *Clients) Disconnect(c *Client, now int64) {
	if c.owner != cs || c.conns <= 0 {
		panic("policy: Clients.Disconnect without Connect")
	}
	c.conns--
	cs.maybeRelease(c)
	cs.expire(now)
}

// Request accounts for a request of c, read and about to be queued, and
// decides on it. saturated is the server's state (CloseGate.Closing):
// greed is judged only while the server is saturated, since otherwise
// serving a hungry client costs nobody anything.
//
//   - Serve: queue it.
//   - Pause: queue it, and stop reading this connection for Wait (in
//     [MinPause, Window]), the time for the client's score to decay back to
//     its limit.
//   - Reject503: answer 503 with Retry-After, the time its score needs to
//     decay to the limit (in [MinRetryAfter, MaxRetryAfter]); the request
//     is not counted.
func (cs *Clients) Request(c *Client, now int64, saturated bool) Verdict {
	if !saturated && c.recent && now <= c.lastReq && now <= c.scoreAt && now <= cs.totalAt {
		// No later than what was last accounted (the rest of a pipelined
		// batch, read at one instant): nothing has decayed since, the
		// client's place in the list stands, and expiry can wait.
		c.greedy = false
		cs.count(c)
		return Verdict{Decision: Serve}
	}
	cs.expire(now)
	cs.total = max(cs.decay(cs.total, cs.totalAt, now), 0)
	cs.totalAt = max(cs.totalAt, now)
	c.score = cs.decay(c.score, c.scoreAt, now)
	c.scoreAt = max(c.scoreAt, now)
	cs.touch(c, now)

	others := cs.nrecent - 1
	if !saturated || others < 1 {
		c.greedy = false
		cs.count(c)
		return Verdict{Decision: Serve}
	}
	tol, floor := cs.Tolerance, cs.Floor
	if tol <= 0 {
		tol = DefaultGreedTolerance
	}
	if floor <= 0 {
		floor = DefaultGreedFloor
	}
	mean := max(cs.total-c.score, 0) / float64(others)
	limit := max(tol*mean, floor)
	if c.score+1 <= limit {
		// Within bounds. A greedy client is forgiven only well under its
		// limit: one that hovers at the limit, paused and released by
		// turns, stays greedy until RejectAfter.
		if c.greedy && c.score <= forgiveFraction*limit {
			c.greedy = false
		}
		cs.count(c)
		return Verdict{Decision: Serve}
	}
	if !c.greedy {
		c.greedy, c.greedySince = true, now
	}
	rejectAfter := cs.RejectAfter
	if rejectAfter <= 0 {
		rejectAfter = DefaultRejectAfter
	}
	if now-c.greedySince >= int64(rejectAfter) {
		return Verdict{Decision: Reject503, RetryAfter: RetryAfterSeconds(cs.decayTime(c.score, limit))}
	}
	cs.count(c)
	wait := min(max(cs.decayTime(c.score, limit), MinPause), cs.window())
	return Verdict{Decision: Pause, Wait: wait}
}

// decayTime is how long a score needs to decay from v to limit.
func (cs *Clients) decayTime(v, limit float64) time.Duration {
	if v <= limit || limit <= 0 {
		return 0
	}
	return time.Duration(float64(cs.window()) * math.Log(v/limit))
}

func (cs *Clients) count(c *Client) {
	c.score++
	cs.total++
}

// touch moves c to the fresh end of the active list.
func (cs *Clients) touch(c *Client, now int64) {
	if cs.recent.next == nil {
		cs.recent.next, cs.recent.prev = &cs.recent, &cs.recent
	}
	if c.recent {
		c.prev.next, c.next.prev = c.next, c.prev
	} else {
		c.recent = true
		cs.nrecent++
	}
	if newest := cs.recent.prev; newest != &cs.recent && newest.lastReq > now {
		now = newest.lastReq // keep the list sorted if the clock stutters
	}
	c.lastReq = now
	c.prev, c.next = cs.recent.prev, &cs.recent
	cs.recent.prev.next = c
	cs.recent.prev = c
}

// expire retires up to expirePerCall clients whose last request is a
// Window old: they are no longer active, and their record goes if they have
// no connection either.
func (cs *Clients) expire(now int64) {
	if cs.recent.next == nil {
		return
	}
	horizon := now - int64(cs.window())
	for range expirePerCall {
		c := cs.recent.next
		if c == &cs.recent || c.lastReq > horizon {
			return
		}
		c.prev.next, c.next.prev = c.next, c.prev
		c.prev, c.next, c.recent = nil, nil, false
		cs.nrecent--
		cs.maybeRelease(c)
	}
}

func (cs *Clients) alloc(key ClientKey) *Client {
	c := cs.free
	if c != nil {
		cs.free, cs.nfree = c.next, cs.nfree-1
		*c = Client{}
	} else {
		c = new(Client)
	}
	c.key, c.owner = key, cs
	if cs.m == nil {
		cs.m = make(map[ClientKey]*Client)
	}
	cs.m[key] = c
	return c
}

// maybeRelease frees c's record once nothing holds it: no connection, and
// not active (so that a greedy client cannot shed its score by
// reconnecting, §9).
func (cs *Clients) maybeRelease(c *Client) {
	if c.conns > 0 || c.recent {
		return
	}
	delete(cs.m, c.key)
	*c = Client{}
	if cs.nfree < maxFreeFlows {
		c.next, cs.free = cs.free, c
		cs.nfree++
	}
}
