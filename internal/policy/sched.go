package policy

// SchedNode is a ready connection's link in a Scheduler. Embed one in the
// connection and set Value to the connection once; pushing never allocates.
// The zero value is a node in no scheduler.
type SchedNode[T any] struct {
	// Owned by the scheduler the node is queued in.
	prev, next *SchedNode[T]
	flow       *flow[T]

	// Value is the connection this node belongs to. Owned by the caller.
	Value *T
}

// Queued reports whether n waits in a scheduler.
func (n *SchedNode[T]) Queued() bool { return n.flow != nil }

// flow is one client's queue of ready connections and its place in the
// round.
type flow[T any] struct {
	sched      *Scheduler[T]
	key        ClientKey
	head, tail *SchedNode[T] // FIFO of ready connections
	deficit    int           // DRR deficit counter, in requests
	prev, next *flow[T]      // ring of active flows; next is free-list link when idle
}

// maxFreeFlows bounds the recycled client records a Scheduler keeps: enough
// that clients coming and going in steady state never allocate, few enough
// (each is under 100 bytes) that a burst of clients is not held forever.
const maxFreeFlows = 1024

// Scheduler is the run queue: it holds connections with a request ready
// and hands them to workers fairly, against the capture effect (the draft,
// §9): connections are grouped by client (ClientKey) and clients are served
// by deficit round robin (Shreedhar and Varghese), one request per
// connection per turn, round robin among a client's connections. A client
// with 50 connections gets one client's share, not 50.
//
// One request costs one unit. Each turn a client's deficit grows by
// Quantum, and it is served while its deficit covers a request; a client
// whose queue empties leaves the round and forfeits its deficit, so idling
// earns no credit.
//
// Push, Pop and Remove are O(1). A client record is allocated when a client
// first has a connection queued, and recycled when its queue empties; in
// steady state nothing allocates. The zero value is an empty scheduler.
// Owned by one goroutine.
type Scheduler[T any] struct {
	// Quantum is the requests a client may take per turn (values below 1
	// mean 1). Default 1: strict alternation between clients. A client has
	// at most one request queued per connection, so in a turn it can use
	// at most min(Quantum, its queued connections) units, and the rest of
	// its deficit is forfeited when its queue empties: a larger quantum
	// favours clients with several connections, up to Quantum of them, and
	// lengthens a newcomer's wait. Raise it only to trade fairness for
	// serving a client's requests in bursts.
	Quantum int

	flows map[ClientKey]*flow[T]
	cur   *flow[T] // the client whose turn it is (it has had its quantum); nil when empty
	n     int      // queued connections
	free  *flow[T] // recycled records, linked through next
	nfree int
}

// Len is the number of queued connections.
func (s *Scheduler[T]) Len() int { return s.n }

// Clients is the number of clients with a connection queued.
func (s *Scheduler[T]) Clients() int { return len(s.flows) }

// Others reports whether a client other than key has a connection queued:
// whether serving key's next request now would make someone else wait.
func (s *Scheduler[T]) Others(key ClientKey) bool {
	switch len(s.flows) {
	case 0:
		return false
	case 1:
		_, mine := s.flows[key]
		return !mine
	}
	return true
}

// Push queues n's connection, which has a request ready, behind the other
// ready connections of client. Push panics if n is already queued: a
// connection has at most one request in line at a time.
func (s *Scheduler[T]) Push(n *SchedNode[T], client ClientKey) {
	if n.flow != nil {
		panic("policy: Scheduler.Push of a queued node")
	}
	f := s.flows[client]
	if f == nil {
		f = s.newFlow(client)
	}
	n.flow, n.next, n.prev = f, nil, f.tail
	if f.tail != nil {
		f.tail.next = n
	} else {
		f.head = n
	}
	f.tail = n
	s.n++
}

func (s *Scheduler[T]) newFlow(key ClientKey) *flow[T] {
	f := s.free
	if f != nil {
		s.free, s.nfree = f.next, s.nfree-1
		*f = flow[T]{}
	} else {
		f = new(flow[T])
	}
	f.sched, f.key = s, key
	if s.flows == nil {
		s.flows = make(map[ClientKey]*flow[T])
	}
	s.flows[key] = f
	if s.cur == nil {
		f.prev, f.next = f, f
		s.startTurn(f)
		return f
	}
	// A newcomer joins at the end of the round, with no credit.
	f.prev, f.next = s.cur.prev, s.cur
	f.prev.next = f
	s.cur.prev = f
	return f
}

func (s *Scheduler[T]) startTurn(f *flow[T]) {
	s.cur = f
	f.deficit += max(s.Quantum, 1)
}

// Pop takes the next connection to serve, or returns nil when none is
// queued. Push the connection again when its next request is ready.
func (s *Scheduler[T]) Pop() *SchedNode[T] {
	f := s.cur
	if f == nil {
		return nil
	}
	if f.deficit < 1 { // turn over: deficits are never negative, so one step suffices
		s.startTurn(f.next)
		f = s.cur
	}
	n := f.head
	f.deficit--
	s.unlink(n)
	return n
}

// Remove takes n out of its queue (the connection closed while waiting).
// It reports whether n was queued in s.
func (s *Scheduler[T]) Remove(n *SchedNode[T]) bool {
	if n.flow == nil || n.flow.sched != s {
		return false
	}
	s.unlink(n)
	return true
}

func (s *Scheduler[T]) unlink(n *SchedNode[T]) {
	f := n.flow
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		f.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		f.tail = n.prev
	}
	n.prev, n.next, n.flow = nil, nil, nil
	s.n--
	if f.head == nil {
		s.retire(f)
	}
}

// retire removes an empty flow from the round and recycles its record.
func (s *Scheduler[T]) retire(f *flow[T]) {
	if f.next == f {
		s.cur = nil
	} else {
		f.prev.next, f.next.prev = f.next, f.prev
		if s.cur == f {
			s.startTurn(f.next)
		}
	}
	delete(s.flows, f.key)
	*f = flow[T]{}
	if s.nfree < maxFreeFlows {
		f.next, s.free = s.free, f
		s.nfree++
	}
}
