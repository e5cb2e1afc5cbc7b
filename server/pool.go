package server

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dallyhttp/dally/h1"
	"github.com/dallyhttp/dally/internal/evloop"
	"github.com/dallyhttp/dally/internal/policy"
)

// worker is a handler goroutine. It owns at most one connection at a time.
type worker struct {
	wake     chan struct{} // readiness and deadlines of the owned connection
	work     chan *conn    // hand-off from dispatch; nil asks the worker to exit
	parkedAt int64
	// now is the loop clock read when the last response was finished (0:
	// none since the worker took the connection, or a wait since): the
	// reads that follow a request (helping loops, going idle, parking)
	// share it rather than each reading the clock.
	now     int64
	req     h1.Request // the head being served; aliases the connection's buffer
	headLen int
	tmpl    http.Request       // newRequest's template, copied by WithContext
	rw      response           // the ResponseWriter of the request being served
	header  http.Header        // rw's header map, cleared between requests
	bufs    [workerBufs][]byte // free buffers (getBuf, putBuf)
	nbuf    int
}

// workerPool runs connections on a bounded set of goroutines: parked
// workers are reused most recent first (warm stacks), new ones start up to
// MaxWorkers, and past that, or past the run bound while the CPU is
// saturated (policy.RunLimit), connections queue in the fair order.
type workerPool struct {
	s      *Server
	mu     sync.Mutex
	parked []*worker // guarded by mu; LIFO
	// queue holds connections waiting for a worker, served round robin
	// across connections and deficit round robin across client addresses
	// (the draft, §9: no client captures the server by opening many
	// connections or pipelining hard).
	queue policy.Scheduler[conn] // guarded by mu
	n     int                    // guarded by mu: workers alive
	busy  int                    // guarded by mu
	// blocked counts busy workers whose handlers said they wait for
	// something other than the processor (Blocking): the run bound counts
	// busy-blocked.
	blocked int // guarded by mu
	nq      atomic.Int32
	closed  bool // guarded by mu: workers exit instead of parking
	// run bounds busy workers below n while the CPU is saturated, so that
	// the queue's fair order, not the Go scheduler's, decides who runs.
	run policy.RunLimit // guarded by mu
}

// warmWorkers is how many of the most recently parked workers (the next
// to be reused) keep their free buffers.
const warmWorkers = 16

// idleWorkerTTL is how long a parked worker lives before it exits; the
// pool shrinks back after a burst so that idle servers hold few stacks.
// Short, because parked workers are not free while the server is busy
// either: the collector scans every goroutine's stack in every cycle.
// wrk -c500 starts with 500 requests at once, and 30 s kept the ~400
// workers of that burst through the whole run (513 goroutines after 6 s;
// 141 with 2 s). Starting a goroutine again costs about a microsecond.
const idleWorkerTTL = 2 * time.Second

func (p *workerPool) init(s *Server) {
	p.s = s
	p.mu.Lock() // Stats may already be looking
	defer p.mu.Unlock()
	p.run = policy.RunLimit{
		Floor: max(8, 4*runtime.GOMAXPROCS(0)),
		Max:   s.MaxWorkers,
		High:  s.SchedTarget,
		Low:   s.SchedTarget / 4,
	}
	p.run.Reset()
}

// adjust moves the run bound with one tick's scheduling delay (loop 0)
// and hands queued connections to workers up to the bounds.
func (p *workerPool) adjust(delay time.Duration) {
	p.mu.Lock()
	if p.s.SchedTarget >= 0 {
		p.run.Update(delay, p.busy-p.blocked, p.queue.Len() > 0)
	}
	p.kickLocked()
}

// startLocked hands c to a parked worker or a new one; the caller has
// checked that one may start. Called with mu held; returns with it released.
func (p *workerPool) startLocked(c *conn) {
	p.busy++
	if k := len(p.parked); k > 0 {
		w := p.parked[k-1]
		p.parked[k-1] = nil
		p.parked = p.parked[:k-1]
		p.mu.Unlock()
		w.work <- c
		return
	}
	p.n++
	p.mu.Unlock()
	w := &worker{wake: make(chan struct{}, 1), work: make(chan *conn, 1)}
	go w.run(p, c)
}

func (p *workerPool) dispatch(c *conn) {
	p.mu.Lock()
	if p.queue.Len() == 0 && p.canStartLocked() {
		p.startLocked(c)
		return
	}
	// Behind those already waiting; then start workers for the queue's
	// head while the bounds allow (connections that helped loop turns
	// queued, see enqueue, are started here, from the loop).
	if !p.pushLocked(c) {
		p.mu.Unlock()
		c.closeNow(reasonDrain)
		return
	}
	p.kickLocked()
}

// canStartLocked reports whether one more worker may run a connection.
func (p *workerPool) canStartLocked() bool {
	return p.busy-p.blocked < p.run.Limit() && (len(p.parked) > 0 || p.n < p.s.MaxWorkers)
}

// kickLocked starts workers for queued connections, in the fair order,
// while the bounds allow. Called with mu held; returns with it released.
func (p *workerPool) kickLocked() {
	for !p.closed && p.canStartLocked() {
		c := p.popLocked()
		if c == nil {
			break
		}
		p.startLocked(c) // unlocks
		p.mu.Lock()
	}
	p.mu.Unlock()
}

// enqueue queues c for a running worker to take (the caller is one, about
// to take the next), for a connection found by a helped loop turn or one
// that still has pipelined requests: at the back, so that each connection
// gets one request per turn. It wakes no worker: workers that wake each
// other hand the processor on directly (the Go scheduler's runnext), and
// goroutines woken any other way, timers and the loops included, then
// wait behind that chain for seconds. The loop's next dispatch, or the
// next tick, starts more workers for the queue if the bounds allow.
func (p *workerPool) enqueue(c *conn) {
	p.mu.Lock()
	ok := p.pushLocked(c)
	p.mu.Unlock()
	if !ok {
		c.closeNow(reasonDrain)
	}
}

// pushLocked queues c and reports true, unless the pool is closed (close
// took every queued connection): then the caller closes c, after
// unlocking. Called with mu held.
func (p *workerPool) pushLocked(c *conn) bool {
	if p.closed {
		return false
	}
	p.queue.Push(&c.sched, c.key)
	p.nq.Add(1)
	return true
}

// beginBlocking and endBlocking count a handler's wait (Blocking). While
// it waits, a queued connection may start in its place.
func (p *workerPool) beginBlocking() {
	p.mu.Lock()
	p.blocked++
	p.kickLocked() // unlocks
}

func (p *workerPool) endBlocking() {
	p.mu.Lock()
	p.blocked--
	p.mu.Unlock()
}

func (p *workerPool) queued() bool { return p.nq.Load() > 0 }

// othersWaiting reports whether a connection of another client than key
// waits for a worker. A client's own connections are served in turn (one
// connection's buffered requests, then the next), so a pipelining client
// alone keeps its batched writes; another client's request waiting makes
// it one request per turn.
func (p *workerPool) othersWaiting(key policy.ClientKey) bool {
	if !p.queued() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queue.Others(key)
}

// popLocked takes the next connection in the fair order.
func (p *workerPool) popLocked() *conn {
	n := p.queue.Pop()
	if n == nil {
		return nil
	}
	p.nq.Add(-1)
	return n.Value
}

func (w *worker) run(p *workerPool, c *conn) {
	for {
		// A wake left over from the previous connection means nothing now.
		select {
		case <-w.wake:
		default:
		}
		c.serve(w) // helps late loops after each request (helpLoops)
		p.mu.Lock()
		if p.busy-p.blocked <= p.run.Limit() {
			if c = p.popLocked(); c != nil {
				p.mu.Unlock()
				// Connections are queued: the CPU is the bottleneck, and a
				// worker that never blocks would run for a whole time
				// slice (10 ms) before the others, and the loops, get the
				// processor. One request per turn here too.
				runtime.Gosched()
				continue
			}
		}
		p.busy--
		if p.closed {
			p.n--
			p.mu.Unlock()
			w.dropBufs()
			return
		}
		w.rw = response{} // what the last request referenced can go
		w.parkedAt = w.now
		if w.parkedAt == 0 {
			w.parkedAt = evloop.Now()
		}
		p.parked = append(p.parked, w)
		if k := len(p.parked) - 1 - warmWorkers; k >= 0 {
			// Parked workers are reused from the top: the one now below
			// the warm ones gives its buffers back, so that a burst's
			// many workers do not keep them (idle memory). It is parked:
			// its fields are the pool's until it is handed work.
			p.parked[k].dropBufs()
		}
		p.mu.Unlock()
		if c = <-w.work; c == nil {
			w.dropBufs()
			return
		}
	}
}

// helpLoops runs a turn of each loop that is late (evloop.Loop.Help), so
// that what arrived while the processors were busy joins the queue before
// the next request is chosen. Workers call it after each request. It
// reports whether a loop was late: the processors are saturated.
func (s *Server) helpLoops(now int64) bool {
	late := false
	for _, l := range s.loops {
		late = l.Help(now) || late
	}
	return late
}

// reap ends workers parked longer than idleWorkerTTL (oldest first: they
// sit at the bottom of the stack).
func (p *workerPool) reap(now int64) {
	p.mu.Lock()
	k := 0
	for k < len(p.parked) && now-p.parked[k].parkedAt > int64(idleWorkerTTL) {
		k++
	}
	old := append([]*worker(nil), p.parked[:k]...)
	p.parked = p.parked[:copy(p.parked, p.parked[k:])]
	p.n -= k
	p.mu.Unlock()
	for _, w := range old {
		w.work <- nil
	}
}

// close makes every worker exit once it has no connection, and closes
// the connections still queued for one: they are Active with no owner, so
// nothing else would.
func (p *workerPool) close() {
	p.mu.Lock()
	p.closed = true
	parked := p.parked
	p.parked = nil
	p.n -= len(parked)
	var queued []*conn
	for c := p.popLocked(); c != nil; c = p.popLocked() {
		queued = append(queued, c)
	}
	p.mu.Unlock()
	for _, w := range parked {
		w.work <- nil
	}
	for _, c := range queued {
		c.closeNow(reasonDrain)
	}
}

func (p *workerPool) snapshot() (workers, busy, queued int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.busy, p.queue.Len()
}

// runLimit is the bound on busy workers in force.
func (p *workerPool) runLimit() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run.Limit()
}
