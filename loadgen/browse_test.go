package loadgen

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dallyhttp/dally/server"
)

func TestPlanReproducible(t *testing.T) {
	take := func(seed uint64, user int) []Visit {
		p := NewPlan(seed, user, 3, BrowseModel{})
		v := make([]Visit, 2000)
		for i := range v {
			v[i] = p.Next()
		}
		return v
	}
	a, b := take(42, 7), take(42, 7)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed and user gave different schedules")
	}
	if reflect.DeepEqual(a, take(43, 7)) || reflect.DeepEqual(a, take(42, 8)) {
		t.Fatal("another seed or user gave the same schedule")
	}
	// The schedule has the model's shape: sessions, objects in range,
	// think times at least k, every server visited.
	m := DefaultBrowseModel
	var sessions, thinks int
	var thinkSum time.Duration
	servers := map[int]bool{}
	for _, v := range a[1:] {
		servers[v.Server] = true
		if v.Objects < m.ObjectsMin || v.Objects > m.ObjectsMax {
			t.Fatalf("visit with %d objects", v.Objects)
		}
		if v.NewSession {
			sessions++
			continue
		}
		thinks++
		thinkSum += v.Wait
		if v.Wait < m.ThinkK {
			t.Fatalf("think time %v below the Pareto scale %v", v.Wait, m.ThinkK)
		}
	}
	if len(servers) != 3 {
		t.Errorf("visited %d of 3 servers", len(servers))
	}
	if perSession := float64(len(a)) / float64(sessions); perSession < 6 || perSession > 10 {
		t.Errorf("%.1f pages per session, want about %v", perSession, m.PagesPerSession)
	}
	if mean := thinkSum / time.Duration(thinks); mean < 2*time.Second || mean > 5*time.Second {
		t.Errorf("mean think time %v, want about 3 s (Pareto k=1 s, alpha=1.5)", mean)
	}
}

func TestBrowseRequestsFollowPlan(t *testing.T) {
	// Two runs with the same seed against two dally servers send each user's
	// requests in the order of its plan; the connections the users opened
	// are the ones the servers accepted, and so are the requests.
	var addrs []string
	var srvs []*server.Server
	for i := 0; i < 2; i++ {
		s := &server.Server{}
		addrs = append(addrs, startServer(t, s))
		srvs = append(srvs, s)
	}
	const users = 20
	run := func() [users][]string {
		var mu sync.Mutex
		var got [users][]string
		d := &CountingDialer{}
		b := &Browse{
			Servers: addrs, Seed: 9, TimeScale: 2000, Dial: d.DialContext, KeepAlive: true, Timeout: 5 * time.Second,
			OnRequest: func(u, s int, target string) {
				mu.Lock()
				got[u] = append(got[u], fmt.Sprintf("%d%s", s, target))
				mu.Unlock()
			},
		}
		before := srvs[0].Stats().Accepted + srvs[1].Stats().Accepted
		beforeReq := srvs[0].Stats().Requests + srvs[1].Stats().Requests
		r, err := b.Run(context.Background(), users, 1500*time.Millisecond, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		settle(t, srvs[0])
		settle(t, srvs[1])
		if acc := srvs[0].Stats().Accepted + srvs[1].Stats().Accepted - before; acc != r.ConnsOpened {
			t.Errorf("users opened %d connections, servers accepted %d", r.ConnsOpened, acc)
		}
		if req := srvs[0].Stats().Requests + srvs[1].Stats().Requests - beforeReq; req < r.Requests {
			t.Errorf("users counted %d responses, servers %d requests", r.Requests, req)
		}
		if s := b.Summary(); s.Pages < users || r.Requests < s.Pages {
			t.Errorf("summary %+v, %d requests", s, r.Requests)
		}
		return got
	}
	a, b := run(), run()
	compared := 0
	for u := 0; u < users; u++ {
		// Which connection takes which object depends on timing; the pages
		// do not: both runs, and the plan, agree on the common prefix.
		pa, pb := pages(a[u]), pages(b[u])
		n := min(len(pa), len(pb))
		if n > 0 {
			compared++ // a user whose first arrival fell past the run has none
		}
		if !reflect.DeepEqual(pa[:n], pb[:n]) {
			t.Errorf("user %d: pages %v then %v", u, pa, pb)
		}
		plan := NewPlan(9, u, 2, BrowseModel{})
		for i := 0; i < n; i++ {
			v := plan.Next()
			if want := fmt.Sprintf("%d%s", v.Server, PagePath(v)); pa[i] != want {
				t.Fatalf("user %d page %d: %s, plan says %s", u, i, pa[i], want)
			}
		}
	}
	if compared < users/2 {
		t.Errorf("only %d of %d users loaded a page in both runs", compared, users)
	}
}

// pages keeps the page requests of a user's request log.
func pages(log []string) []string {
	var out []string
	for _, r := range log {
		var s, p int
		if n, _ := fmt.Sscanf(r, "%d/page/%d", &s, &p); n == 2 && fmt.Sprintf("%d/page/%d", s, p) == r {
			out = append(out, r)
		}
	}
	return out
}
