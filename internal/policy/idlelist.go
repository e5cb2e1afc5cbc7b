package policy

import (
	"fmt"
	"time"
)

// IdleNode is an idle connection's link in an IdleList. Embed one in the
// connection and set Value to the connection once; the list never allocates.
//
// A node is in at most one list at a time. The zero value is a node in no
// list.
type IdleNode[T any] struct {
	// Owned by the list the node is in.
	prev, next *IdleNode[T]
	list       *IdleList[T]
	idx        int // index in list.all, for ShedRandom

	// LastUse is when the connection last finished a response, in the
	// caller's monotonic nanoseconds; PushMRU sets it. Read-only for the
	// caller while the node is in a list.
	LastUse int64
	// Value is the connection this node belongs to. Owned by the caller.
	Value *T
}

// Idle reports whether n is in a list.
func (n *IdleNode[T]) Idle() bool { return n.list != nil }

// IdleList is the server's idle connections ordered by last use, least
// recently used first: the list LRU shedding takes victims from (the draft,
// §5 and §9, after Padmanabhan and Mogul: LRU is as good as cleverer
// schemes). Because every idle connection has the same deadline (LastUse
// plus the current IdleTimeout.Effective), the oldest is always the first
// to expire, so the list is also the idle timer queue: one timer, armed at
// NextDeadline, serves every idle connection.
//
// Every operation is O(1) and allocation-free in steady state (ShedRandom's
// index grows to the peak idle population once). The zero value is an empty
// list. An IdleList must not be copied after first use. Owned by one
// goroutine (the event loop).
type IdleList[T any] struct {
	root IdleNode[T]    // sentinel: root.next is the oldest, root.prev the newest
	all  []*IdleNode[T] // every node, unordered, for a uniform random choice
}

func (l *IdleList[T]) lazyInit() {
	if l.root.next == nil {
		l.root.next, l.root.prev = &l.root, &l.root
	}
}

// Len is the number of idle connections.
func (l *IdleList[T]) Len() int { return len(l.all) }

// PushMRU records that n's connection became idle (or was used) at now:
// it enters the list, or moves, at its place in the order of last use,
// normally the end. A connection whose last use came before the newest
// ones' (its owner was slow to report it) goes before them, so that the
// least recently used is the one used least recently, not the one
// reported first; past maxReorder nodes, LastUse is raised to keep the
// list sorted at no more cost. PushMRU panics if n is in another list.
func (l *IdleList[T]) PushMRU(n *IdleNode[T], now int64) {
	l.lazyInit()
	switch n.list {
	case l:
		n.prev.next, n.next.prev = n.next, n.prev // unlink, keep idx
	case nil:
		n.list, n.idx = l, len(l.all)
		l.all = append(l.all, n)
	default:
		panic("policy: IdleList.PushMRU of a node in another list")
	}
	at := l.root.prev // n goes after at
	for k := 0; at != &l.root && at.LastUse > now; k++ {
		if k == maxReorder {
			now = at.LastUse
			break
		}
		at = at.prev
	}
	n.LastUse = now
	n.prev, n.next = at, at.next
	at.next.prev = n
	at.next = n
}

// maxReorder bounds how far PushMRU looks back for a late report's place.
const maxReorder = 8

// Remove takes n out of the list (its connection is reading again, or
// closing). It reports whether n was in l; removing a node that is not in l
// does nothing.
func (l *IdleList[T]) Remove(n *IdleNode[T]) bool {
	if n.list != l || l == nil {
		return false
	}
	n.prev.next, n.next.prev = n.next, n.prev
	last := len(l.all) - 1
	moved := l.all[last]
	l.all[n.idx], moved.idx = moved, n.idx
	l.all[last] = nil
	l.all = l.all[:last]
	n.prev, n.next, n.list, n.idx = nil, nil, nil, 0
	return true
}

// Oldest is the least recently used node, or nil if the list is empty.
func (l *IdleList[T]) Oldest() *IdleNode[T] {
	if len(l.all) == 0 {
		return nil
	}
	return l.root.next
}

// Expired removes and returns the oldest node if it has been idle for at
// least timeout at now, else returns nil. Call it in a bounded loop from the
// idle timer; pass IdleTimeout.Effective(p) as timeout so that MinWindow
// holds.
func (l *IdleList[T]) Expired(now int64, timeout time.Duration) *IdleNode[T] {
	n := l.Oldest()
	if n == nil || now-n.LastUse < int64(timeout) {
		return nil
	}
	l.Remove(n)
	return n
}

// NextDeadline is when the oldest node expires under timeout (arm the idle
// timer there); ok is false when the list is empty. If p changes, so does the
// deadline: re-arm after recomputing timeout.
func (l *IdleList[T]) NextDeadline(timeout time.Duration) (at int64, ok bool) {
	n := l.Oldest()
	if n == nil {
		return 0, false
	}
	return n.LastUse + int64(timeout), true
}

// ShedPolicy chooses which idle connection Victim gives up when a newcomer
// needs a slot. The zero value is ShedLRU, the default.
type ShedPolicy uint8

const (
	// ShedLRU takes the least recently used idle connection (the draft, §5:
	// recent clients are the likeliest to come back).
	ShedLRU ShedPolicy = iota
	// ShedRandom takes an idle connection uniformly at random: the baseline
	// the lab benchmarks compare LRU against.
	ShedRandom
)

func (s ShedPolicy) String() string {
	switch s {
	case ShedLRU:
		return "lru"
	case ShedRandom:
		return "random"
	}
	return fmt.Sprintf("ShedPolicy(%d)", uint8(s))
}

// Rand is the random source ShedRandom draws from; *math/rand/v2.Rand
// satisfies it. IntN returns a value in [0, n).
type Rand interface {
	IntN(n int) int
}

// Victim chooses the idle connection to close so that a newcomer can have
// its slot (see Admit), without removing it. Only a connection idle for at
// least minIdle (IdleTimeout.WithDefaults().MinWindow) qualifies: one that has just sent a
// response may be about to receive the next request (§7). Victim returns nil
// when no connection qualifies.
//
// ShedRandom draws uniformly among the nodes old enough (rng required): a
// few draws from all nodes, and when those all land on young ones, one
// draw among the old enough, which are the oldest stretch of the LRU
// order. (Falling back to the oldest instead would make "random" mostly
// LRU exactly when the list is under pressure, and hide the comparison.)
func (l *IdleList[T]) Victim(policy ShedPolicy, rng Rand, now int64, minIdle time.Duration) *IdleNode[T] {
	if len(l.all) == 0 {
		return nil
	}
	old := func(n *IdleNode[T]) bool { return now-n.LastUse >= int64(minIdle) }
	if !old(l.root.next) {
		return nil // the oldest is too young: so is everyone
	}
	if policy != ShedRandom {
		return l.root.next
	}
	for range randomTries {
		if n := l.all[rng.IntN(len(l.all))]; old(n) {
			return n
		}
	}
	// Few are old enough, so counting them is short.
	k := 0
	for n := l.root.next; n != &l.root && old(n); n = n.next {
		k++
	}
	n := l.root.next
	for i := rng.IntN(k); i > 0; i-- {
		n = n.next
	}
	return n
}

// randomTries bounds ShedRandom's draws among all nodes before it counts
// the old enough ones.
const randomTries = 8
