package policy

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

type conn struct {
	id   int
	idle IdleNode[conn]
}

func newConns(n int) []*conn {
	cs := make([]*conn, n)
	for i := range cs {
		cs[i] = &conn{id: i}
		cs[i].idle.Value = cs[i]
	}
	return cs
}

// order lists the ids from oldest to newest, checking every invariant.
func order(t *testing.T, l *IdleList[conn]) []int {
	t.Helper()
	var ids []int
	if l.root.next == nil {
		if l.Len() != 0 {
			t.Fatalf("uninitialized list with Len %d", l.Len())
		}
		return ids
	}
	last := int64(-1 << 63)
	for n := l.root.next; n != &l.root; n = n.next {
		if n.next.prev != n || n.list != l {
			t.Fatalf("broken links at %d", n.Value.id)
		}
		if n.LastUse < last {
			t.Fatalf("not sorted at %d: %d < %d", n.Value.id, n.LastUse, last)
		}
		if l.all[n.idx] != n {
			t.Fatalf("index of %d is stale", n.Value.id)
		}
		last = n.LastUse
		ids = append(ids, n.Value.id)
	}
	if len(ids) != l.Len() {
		t.Fatalf("walked %d nodes, Len %d", len(ids), l.Len())
	}
	return ids
}

func TestIdleListOps(t *testing.T) {
	type op struct {
		kind string // push, remove, expire
		id   int
		now  int64
	}
	tests := []struct {
		name string
		ops  []op
		want []int // ids oldest first
	}{
		{"empty", nil, []int{}},
		{"push keeps use order", []op{{"push", 0, 1}, {"push", 1, 2}, {"push", 2, 3}}, []int{0, 1, 2}},
		{"re-push moves to MRU", []op{{"push", 0, 1}, {"push", 1, 2}, {"push", 2, 3}, {"push", 0, 4}}, []int{1, 2, 0}},
		{"re-push of newest", []op{{"push", 0, 1}, {"push", 1, 2}, {"push", 1, 3}}, []int{0, 1}},
		{"remove middle", []op{{"push", 0, 1}, {"push", 1, 2}, {"push", 2, 3}, {"remove", 1, 0}}, []int{0, 2}},
		{"remove oldest and newest", []op{{"push", 0, 1}, {"push", 1, 2}, {"push", 2, 3}, {"remove", 0, 0}, {"remove", 2, 0}}, []int{1}},
		{"remove twice", []op{{"push", 0, 1}, {"remove", 0, 0}, {"remove", 0, 0}}, []int{}},
		{"remove then push again", []op{{"push", 0, 1}, {"push", 1, 2}, {"remove", 0, 0}, {"push", 0, 5}}, []int{1, 0}},
		// A late report takes its place in the order of last use.
		{"late report goes to its place", []op{{"push", 0, 10}, {"push", 1, 5}, {"push", 2, 7}}, []int{1, 2, 0}},
		{"late report moves in the list", []op{{"push", 0, 1}, {"push", 1, 2}, {"push", 2, 3}, {"push", 0, 2}}, []int{1, 0, 2}},
		{"expire pops the oldest only when due", []op{{"push", 0, 1}, {"push", 1, 2}, {"expire", 0, 1 + 10}, {"expire", 0, 1 + 10}}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l IdleList[conn]
			cs := newConns(4)
			for _, o := range tt.ops {
				switch o.kind {
				case "push":
					l.PushMRU(&cs[o.id].idle, o.now)
				case "remove":
					l.Remove(&cs[o.id].idle)
				case "expire":
					l.Expired(o.now, 10)
				}
				order(t, &l)
			}
			if got := order(t, &l); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("order = %v, want %v", got, tt.want)
			}
			for _, c := range cs {
				if in := slices.Contains(tt.want, c.id); c.idle.Idle() != in {
					t.Errorf("conn %d Idle() = %v, want %v", c.id, c.idle.Idle(), in)
				}
			}
		})
	}
}

func TestIdleListForeignNodes(t *testing.T) {
	var a, b IdleList[conn]
	cs := newConns(2)
	a.PushMRU(&cs[0].idle, 1)
	if b.Remove(&cs[0].idle) {
		t.Error("Remove from the wrong list reported true")
	}
	if b.Remove(&cs[1].idle) {
		t.Error("Remove of a node in no list reported true")
	}
	if a.Len() != 1 || b.Len() != 0 {
		t.Errorf("Len = %d, %d", a.Len(), b.Len())
	}
	defer func() {
		if recover() == nil {
			t.Error("PushMRU of a node in another list did not panic")
		}
	}()
	b.PushMRU(&cs[0].idle, 2)
}

// TestIdleListTimerQueue drives the list as the idle timer queue with a
// fake clock and a timeout that shrinks as pressure rises.
func TestIdleListTimerQueue(t *testing.T) {
	const s = int64(time.Second)
	var l IdleList[conn]
	cs := newConns(5)
	it := IdleTimeout{}
	for i, c := range cs { // idle at 0 s, 10 s, 20 s, 30 s, 40 s
		l.PushMRU(&c.idle, int64(i)*10*s)
	}
	if at, ok := l.NextDeadline(it.Effective(0)); !ok || at != 60*s {
		t.Fatalf("NextDeadline = %d, %v; want 60 s", at, ok)
	}
	steps := []struct {
		name string
		now  int64
		p    float64
		want []int // ids expired, in order
	}{
		{"nothing due under underload", 45 * s, 0, nil},
		{"first due at 60 s", 60 * s, 0, []int{0}},
		{"pressure rises: timeout ~32 s", 61 * s, 0.5, []int{1, 2}},
		{"full pressure: 5 s", 62 * s, 1, []int{3, 4}},
		{"empty", 100 * s, 1, nil},
	}
	for _, st := range steps {
		var got []int
		for n := l.Expired(st.now, it.Effective(st.p)); n != nil; n = l.Expired(st.now, it.Effective(st.p)) {
			got = append(got, n.Value.id)
			if n.Idle() {
				t.Fatalf("%s: expired node still idle", st.name)
			}
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: expired %v, want %v", st.name, got, st.want)
		}
		order(t, &l)
	}
	if _, ok := l.NextDeadline(time.Second); ok {
		t.Error("NextDeadline of an empty list reported ok")
	}
}

// fixedRand returns its values in turn.
type fixedRand struct{ v []int }

func (r *fixedRand) IntN(n int) int {
	x := r.v[0] % n
	r.v = r.v[1:]
	return x
}

func TestIdleListVictim(t *testing.T) {
	const s = int64(time.Second)
	// ids 0..3 idle at 0, 1, 2, 3 s; the all index holds them in push order.
	tests := []struct {
		name    string
		policy  ShedPolicy
		rand    []int
		now     int64
		minIdle time.Duration
		want    int // id, -1 for nil
	}{
		{"LRU takes the oldest", ShedLRU, nil, 10 * s, 2 * time.Second, 0},
		{"LRU: oldest too young", ShedLRU, nil, 1 * s, 2 * time.Second, -1},
		{"LRU: oldest just old enough", ShedLRU, nil, 2 * s, 2 * time.Second, 0},
		{"random draws", ShedRandom, []int{2}, 10 * s, 2 * time.Second, 2},
		{"random: young draws, then one among the old enough", ShedRandom, []int{3, 3, 3, 3, 3, 3, 3, 3, 2}, 4 * s, 2 * time.Second, 2},
		{"random: young draws, then the first old enough", ShedRandom, []int{3, 3, 3, 3, 3, 3, 3, 3, 0}, 4 * s, 2 * time.Second, 0},
		{"random: nobody old enough", ShedRandom, nil, 1 * s, 2 * time.Second, -1},
		{"no minimum", ShedLRU, nil, 3 * s, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l IdleList[conn]
			for i, c := range newConns(4) {
				l.PushMRU(&c.idle, int64(i)*s)
			}
			n := l.Victim(tt.policy, &fixedRand{tt.rand}, tt.now, tt.minIdle)
			got := -1
			if n != nil {
				got = n.Value.id
			}
			if got != tt.want {
				t.Errorf("Victim = %d, want %d", got, tt.want)
			}
			if l.Len() != 4 {
				t.Errorf("Victim removed a node")
			}
		})
	}
	var empty IdleList[conn]
	if empty.Victim(ShedRandom, nil, 0, 0) != nil {
		t.Error("Victim of an empty list is not nil")
	}
}

// TestIdleListRandomUniform: ShedRandom picks every idle connection about
// equally often, even after removals reshuffle the index.
func TestIdleListRandomUniform(t *testing.T) {
	var l IdleList[conn]
	cs := newConns(10)
	for i, c := range cs {
		l.PushMRU(&c.idle, int64(i))
	}
	l.Remove(&cs[3].idle)
	l.Remove(&cs[0].idle)
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[int]int{}
	const draws = 80000
	for range draws {
		counts[l.Victim(ShedRandom, rng, 100, 0).Value.id]++
	}
	if len(counts) != 8 || counts[3] != 0 || counts[0] != 0 {
		t.Fatalf("counts = %v", counts)
	}
	for id, n := range counts {
		if n < draws/8*9/10 || n > draws/8*11/10 {
			t.Errorf("id %d drawn %d times, want about %d", id, n, draws/8)
		}
	}
}

func TestShedPolicyString(t *testing.T) {
	for p, want := range map[ShedPolicy]string{ShedLRU: "lru", ShedRandom: "random", 9: "ShedPolicy(9)"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", p, got, want)
		}
	}
}

// TestIdleListRandomAmongOldEnough: with few connections old enough,
// ShedRandom still draws evenly among them, never a young one.
func TestIdleListRandomAmongOldEnough(t *testing.T) {
	var l IdleList[conn]
	for i, c := range newConns(20) {
		l.PushMRU(&c.idle, int64(i)*int64(time.Second))
	}
	// At 20 s with a 17.5 s window, ids 0, 1 and 2 qualify.
	rng := rand.New(rand.NewPCG(3, 4))
	counts := map[int]int{}
	const draws = 30000
	for range draws {
		counts[l.Victim(ShedRandom, rng, 20*int64(time.Second), 17500*time.Millisecond).Value.id]++
	}
	if len(counts) != 3 {
		t.Fatalf("counts = %v, want ids 0, 1, 2 only", counts)
	}
	for id, n := range counts {
		if n < draws/3*9/10 || n > draws/3*11/10 {
			t.Errorf("id %d drawn %d times, want about %d", id, n, draws/3)
		}
	}
}

// Past maxReorder newer nodes a late report is not walked back further:
// it is stamped with the newest time it passed, and the list stays sorted.
func TestIdleListLateReportBound(t *testing.T) {
	var l IdleList[conn]
	cs := newConns(maxReorder + 3)
	for i := 1; i < len(cs); i++ {
		l.PushMRU(&cs[i].idle, int64(100+i))
	}
	l.PushMRU(&cs[0].idle, 1) // far older than all of them
	got := order(t, &l)       // checks that it is sorted
	if got[0] == 0 || got[len(got)-1] == 0 {
		t.Fatalf("late report at %v, want within the last maxReorder", got)
	}
}
