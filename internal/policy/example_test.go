package policy_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/dallyhttp/dally/internal/policy"
)

// conn is how the server embeds the intrusive nodes.
type conn struct {
	name   string
	client *policy.Client
	key    policy.ClientKey
	idle   policy.IdleNode[conn]
	ready  policy.SchedNode[conn]
}

func newConn(name string, addr string) *conn {
	c := &conn{name: name, key: policy.ClientOf(netip.MustParseAddr(addr))}
	c.idle.Value, c.ready.Value = c, c
	return c
}

// Example walks two connections through one loop's policy: admission,
// a request through the run queue, the idle list, shedding at the limit.
func Example() {
	const maxConns = 2
	var (
		clients policy.Clients
		runq    policy.Scheduler[conn]
		idle    policy.IdleList[conn]
		drain   policy.DrainRate
		gate    policy.CloseGate
		stats   policy.Counters
		timeout = policy.IdleTimeout{}.WithDefaults()
		open    = 0
	)
	accept := func(c *conn, now int64) {
		cl, v := clients.Connect(c.key, now)
		if v.Decision != policy.Serve {
			fmt.Println(c.name, v.Decision)
			return
		}
		victim := idle.Victim(policy.ShedLRU, nil, now, timeout.MinWindow)
		d := policy.Admit(open, maxConns, victim != nil)
		stats.Decide(d)
		switch d {
		case policy.ShedIdle:
			idle.Remove(victim)
			clients.Disconnect(victim.Value.client, now)
			stats.Close(policy.CloseShed)
			fmt.Println(c.name, "admitted by shedding", victim.Value.name)
			open--
		case policy.Reject503:
			clients.Disconnect(cl, now)
			fmt.Println(c.name, "503, Retry-After:", drain.RetryAfter(now, runq.Len()))
			return
		default:
			fmt.Println(c.name, "admitted")
		}
		c.client = cl
		open++
	}
	serve := func(c *conn, now int64) {
		if v := clients.Request(c.client, now, gate.Closing()); v.Decision != policy.Serve {
			fmt.Println(c.name, v.Decision)
		}
		runq.Push(&c.ready, c.key)
		n := runq.Pop() // a worker takes it
		drain.Done(now, 1)
		p := policy.Pressure(policy.Load{Conns: open, MaxConns: maxConns})
		idle.PushMRU(&n.Value.idle, now) // response written: idle
		fmt.Printf("%s served; Keep-Alive: timeout=%d\n", n.Value.name, timeout.KeepAliveSeconds(p))
	}

	s := int64(time.Second)
	a, b, c := newConn("a", "192.0.2.1"), newConn("b", "2001:db8::1"), newConn("c", "198.51.100.7")
	accept(a, 0)
	serve(a, 0)
	accept(b, 1*s)
	serve(b, 1*s)
	accept(c, 2*s) // full; a idle 2 s, b only 1 s: shed a
	accept(newConn("d", "203.0.113.9"), 2*s)
	fmt.Println("closes by shedding:", stats.Closes[policy.CloseShed])
	// Output:
	// a admitted
	// a served; Keep-Alive: timeout=60
	// b admitted
	// b served; Keep-Alive: timeout=5
	// c admitted by shedding a
	// d 503, Retry-After: 1
	// closes by shedding: 1
}
