package policy

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"
)

type job struct {
	client int
	id     int
	node   SchedNode[job]
}

func (j *job) String() string { return fmt.Sprintf("%c%d", 'a'+j.client, j.id) }

func key(client int) ClientKey { return ClientKey{lo: uint64(client) + 1} }

// jobs makes conns[i] connections for client i.
func jobs(conns ...int) [][]*job {
	all := make([][]*job, len(conns))
	for c, n := range conns {
		for i := range n {
			j := &job{client: c, id: i}
			j.node.Value = j
			all[c] = append(all[c], j)
		}
	}
	return all
}

func drain(s *Scheduler[job]) []string {
	var got []string
	for n := s.Pop(); n != nil; n = s.Pop() {
		got = append(got, n.Value.String())
	}
	return got
}

func TestSchedulerOrder(t *testing.T) {
	type push struct{ client, id int }
	tests := []struct {
		name    string
		quantum int
		conns   []int
		pushes  []push
		want    []string
	}{
		{"empty", 1, nil, nil, nil},
		{"one client is FIFO", 1, []int{3}, []push{{0, 2}, {0, 0}, {0, 1}}, []string{"a2", "a0", "a1"}},
		{"alternates clients", 1, []int{3, 1},
			[]push{{0, 0}, {0, 1}, {0, 2}, {1, 0}}, []string{"a0", "b0", "a1", "a2"}},
		{"three clients round robin", 1, []int{2, 2, 2},
			[]push{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}}, []string{"a0", "b0", "c0", "a1", "b1", "c1"}},
		{"quantum 2 serves pairs", 2, []int{3, 3},
			[]push{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}}, []string{"a0", "a1", "b0", "b1", "a2", "b2"}},
		{"zero quantum means 1", 0, []int{2, 1},
			[]push{{0, 0}, {0, 1}, {1, 0}}, []string{"a0", "b0", "a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Scheduler[job]{Quantum: tt.quantum}
			js := jobs(tt.conns...)
			for _, p := range tt.pushes {
				s.Push(&js[p.client][p.id].node, key(p.client))
			}
			if s.Len() != len(tt.pushes) {
				t.Errorf("Len = %d, want %d", s.Len(), len(tt.pushes))
			}
			if got := drain(&s); !slices.Equal(got, tt.want) {
				t.Errorf("order %v, want %v", got, tt.want)
			}
			if s.Len() != 0 || s.Clients() != 0 {
				t.Errorf("after drain Len %d, Clients %d", s.Len(), s.Clients())
			}
		})
	}
}

// TestSchedulerNewcomerWaitsItsTurn: a client arriving mid-round joins at
// the end of the round, with no credit, and is served within one round.
func TestSchedulerNewcomerWaitsItsTurn(t *testing.T) {
	var s Scheduler[job]
	js := jobs(2, 2, 1)
	for _, c := range []int{0, 1} {
		for _, j := range js[c] {
			s.Push(&j.node, key(c))
		}
	}
	first := s.Pop().Value.String() // a0; b's turn is next
	s.Push(&js[2][0].node, key(2))
	got := append([]string{first}, drain(&s)...)
	want := []string{"a0", "b0", "c0", "a1", "b1"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// TestSchedulerFairShare is the capture-effect check: clients with 1, 50
// and 10 connections, every connection always ready again after service
// (a pipelining, greedy client), each get a third of the service with the
// default quantum, and a client's connections share its part evenly.
//
// With a larger quantum a client can use at most one unit per queued
// connection in a turn, so shares go as min(connections, quantum): that is
// why the default quantum is 1.
func TestSchedulerFairShare(t *testing.T) {
	tests := []struct {
		quantum int
		conns   []int
		want    []float64
	}{
		{1, []int{1, 50, 10}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{1, []int{50, 1}, []float64{0.5, 0.5}},
		{1, []int{1, 2, 3, 4, 50}, []float64{0.2, 0.2, 0.2, 0.2, 0.2}},
		{3, []int{1, 50, 10}, []float64{1.0 / 7, 3.0 / 7, 3.0 / 7}},
		{3, []int{3, 50}, []float64{0.5, 0.5}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("quantum %d conns %v", tt.quantum, tt.conns), func(t *testing.T) {
			s := Scheduler[job]{Quantum: tt.quantum}
			js := jobs(tt.conns...)
			for c := range js {
				for _, j := range js[c] {
					s.Push(&j.node, key(c))
				}
			}
			const pops = 42000
			perClient := make([]int, len(tt.conns))
			perConn := map[*job]int{}
			for range pops {
				j := s.Pop().Value
				perClient[j.client]++
				perConn[j]++
				s.Push(&j.node, key(j.client)) // ready again
			}
			for c, n := range perClient {
				if share := float64(n) / pops; math.Abs(share-tt.want[c]) > 0.001 {
					t.Errorf("client %d (%d conns) got share %.4f, want %.4f", c, tt.conns[c], share, tt.want[c])
				}
			}
			for c := range js {
				want := float64(perClient[c]) / float64(tt.conns[c])
				for _, j := range js[c] {
					if got := float64(perConn[j]); math.Abs(got-want) > float64(tt.quantum) {
						t.Errorf("conn %v served %v times, want %v", j, got, want)
					}
				}
			}
		})
	}
}

// TestSchedulerBusyHandlers simulates workers: a served connection is ready
// again only after its request has run, so a client with one connection
// cannot use a full share. DRR is work conserving and max-min fair: the
// small clients get every request they are ready for, each within one round
// (at most Clients()-1 other pops ahead of it), and the 50-connection client
// gets the rest.
func TestSchedulerBusyHandlers(t *testing.T) {
	var s Scheduler[job]
	conns := []int{1, 1, 50}
	js := jobs(conns...)
	for c := range js {
		for _, j := range js[c] {
			s.Push(&j.node, key(c))
		}
	}
	const steps, workers, service = 30000, 4, 2 // a request holds a worker for 2 steps
	type running struct {
		j    *job
		done int
	}
	var busy []running
	served := make([]int, len(conns))
	pushedAt := map[*job]int{} // pop count when pushed
	pops, worstWait := 0, 0
	for step := range steps {
		busy = slices.DeleteFunc(busy, func(r running) bool {
			if r.done <= step {
				s.Push(&r.j.node, key(r.j.client))
				pushedAt[r.j] = pops
				return true
			}
			return false
		})
		for len(busy) < workers {
			n := s.Pop()
			if n == nil {
				break
			}
			j := n.Value
			if j.client < 2 {
				worstWait = max(worstWait, pops-pushedAt[j])
			}
			pops++
			served[j.client]++
			busy = append(busy, running{j, step + service})
		}
	}
	for c := range 2 {
		if served[c] < steps/service-1 {
			t.Errorf("client %d served %d times, want every time it was ready (%d)", c, served[c], steps/service)
		}
	}
	if worstWait > len(conns)-1 {
		t.Errorf("a small client waited behind %d pops, want at most %d", worstWait, len(conns)-1)
	}
	if want := steps*workers/service - served[0] - served[1]; served[2] < want-workers {
		t.Errorf("client 2 served %d, want the rest (%d): not work conserving", served[2], want)
	}
}

func TestSchedulerRemove(t *testing.T) {
	tests := []struct {
		name   string
		remove []string
		want   []string
	}{
		{"nothing", nil, []string{"a0", "b0", "a1", "b1", "a2"}},
		{"middle of a queue", []string{"a1"}, []string{"a0", "b0", "a2", "b1"}},
		{"head of current client", []string{"a0"}, []string{"a1", "b0", "a2", "b1"}},
		{"whole client that is current", []string{"a0", "a1", "a2"}, []string{"b0", "b1"}},
		{"whole other client", []string{"b1", "b0"}, []string{"a0", "a1", "a2"}},
		{"everything", []string{"a0", "b0", "a1", "b1", "a2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Scheduler[job]
			js := jobs(3, 2)
			byName := map[string]*job{}
			for c := range js {
				for _, j := range js[c] {
					s.Push(&j.node, key(c))
					byName[j.String()] = j
				}
			}
			for _, r := range tt.remove {
				if !s.Remove(&byName[r].node) {
					t.Fatalf("Remove(%s) = false", r)
				}
				if byName[r].node.Queued() {
					t.Fatalf("%s still queued", r)
				}
			}
			if s.Len() != 5-len(tt.remove) {
				t.Errorf("Len = %d", s.Len())
			}
			if got := drain(&s); !slices.Equal(got, tt.want) {
				t.Errorf("order %v, want %v", got, tt.want)
			}
			if s.Remove(&byName["a0"].node) {
				t.Error("Remove of a node no longer queued reported true")
			}
		})
	}
}

func TestSchedulerMisuse(t *testing.T) {
	var s, other Scheduler[job]
	js := jobs(1)
	s.Push(&js[0][0].node, key(0))
	if other.Remove(&js[0][0].node) {
		t.Error("Remove from another scheduler reported true")
	}
	defer func() {
		if recover() == nil {
			t.Error("double Push did not panic")
		}
	}()
	s.Push(&js[0][0].node, key(0))
}

// TestSchedulerRecyclesClients: client records come back from the free
// list, and the list is bounded.
func TestSchedulerRecyclesClients(t *testing.T) {
	var s Scheduler[job]
	js := jobs(slices.Repeat([]int{1}, maxFreeFlows+10)...)
	for c := range js {
		s.Push(&js[c][0].node, key(c))
	}
	if s.Clients() != len(js) {
		t.Fatalf("Clients = %d", s.Clients())
	}
	drain(&s)
	if s.nfree != maxFreeFlows {
		t.Errorf("free records = %d, want %d", s.nfree, maxFreeFlows)
	}
	s.Push(&js[0][0].node, key(7))
	if s.nfree != maxFreeFlows-1 {
		t.Errorf("free records after reuse = %d", s.nfree)
	}
	if n := s.Pop(); n != &js[0][0].node {
		t.Error("recycled record lost the node")
	}
}

func TestClientOf(t *testing.T) {
	tests := []struct {
		a1, a2 string
		same   bool
		str    string // String of a1's key
	}{
		{"192.0.2.1", "192.0.2.1", true, "192.0.2.1"},
		{"192.0.2.1", "192.0.2.2", false, "192.0.2.1"},
		{"192.0.2.1", "::ffff:192.0.2.1", true, "192.0.2.1"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2", true, "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false, "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::2%eth1", true, "fe80::/64"},
		{"0.0.0.0", "::", false, "0.0.0.0"},
		{"::1", "::", true, "::/64"},
	}
	for _, tt := range tests {
		k1, k2 := ClientOf(netip.MustParseAddr(tt.a1)), ClientOf(netip.MustParseAddr(tt.a2))
		if (k1 == k2) != tt.same {
			t.Errorf("ClientOf(%s) == ClientOf(%s) is %v, want %v", tt.a1, tt.a2, k1 == k2, tt.same)
		}
		if got := k1.String(); got != tt.str {
			t.Errorf("ClientOf(%s).String() = %q, want %q", tt.a1, got, tt.str)
		}
	}
	if ClientOf(netip.Addr{}) != (ClientKey{}) {
		t.Error("invalid address does not give the zero key")
	}
}

func TestSchedulerOthers(t *testing.T) {
	js := jobs(2, 1)
	var s Scheduler[job]
	if s.Others(key(0)) {
		t.Fatal("empty scheduler: Others = true")
	}
	s.Push(&js[0][0].node, key(0))
	s.Push(&js[0][1].node, key(0))
	if s.Others(key(0)) {
		t.Error("only client a queued: Others(a) = true")
	}
	if !s.Others(key(1)) {
		t.Error("client a queued: Others(b) = false")
	}
	s.Push(&js[1][0].node, key(1))
	if !s.Others(key(0)) || !s.Others(key(1)) {
		t.Error("a and b queued: Others false for one of them")
	}
	drain(&s)
	if s.Others(key(0)) || s.Others(key(1)) {
		t.Error("drained: Others = true")
	}
}
