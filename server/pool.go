package server

import (
	"net/http"
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
	req      h1.Request // the head being served; aliases the connection's buffer
	headLen  int
	tmpl     http.Request // newRequest's template, copied by WithContext
}

// workerPool runs connections on a bounded set of goroutines: parked
// workers are reused most recent first (warm stacks), new ones start up to
// MaxWorkers, and past that connections queue in FIFO order.
type workerPool struct {
	s      *Server
	mu     sync.Mutex
	parked []*worker // guarded by mu; LIFO
	// queue holds connections waiting for a worker, served round robin
	// across connections and deficit round robin across client addresses
	// (the draft, §9: no client captures the server by opening many
	// connections or pipelining hard).
	queue  policy.Scheduler[conn] // guarded by mu
	n      int                    // guarded by mu: workers alive
	busy   int                    // guarded by mu
	nq     atomic.Int32
	closed bool // guarded by mu: workers exit instead of parking
}

// idleWorkerTTL is how long a parked worker lives before it exits; the
// pool shrinks back after a burst so that idle servers hold few stacks.
const idleWorkerTTL = 30 * time.Second

func (p *workerPool) init(s *Server) { p.s = s }

func (p *workerPool) dispatch(c *conn) {
	p.mu.Lock()
	if k := len(p.parked); k > 0 {
		w := p.parked[k-1]
		p.parked[k-1] = nil
		p.parked = p.parked[:k-1]
		p.busy++
		p.mu.Unlock()
		w.work <- c
		return
	}
	if p.n < p.s.MaxWorkers {
		p.n++
		p.busy++
		p.mu.Unlock()
		w := &worker{wake: make(chan struct{}, 1), work: make(chan *conn, 1)}
		go w.run(p, c)
		return
	}
	p.queue.Push(&c.sched, c.key)
	p.nq.Add(1)
	p.mu.Unlock()
}

// requeue puts a connection that still has pipelined requests at the back
// of the queue, so that each connection gets one request per turn.
func (p *workerPool) requeue(c *conn) {
	p.mu.Lock()
	p.queue.Push(&c.sched, c.key)
	p.nq.Add(1)
	p.mu.Unlock()
}

func (p *workerPool) queued() bool { return p.nq.Load() > 0 }

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
		c.serve(w)
		p.mu.Lock()
		if c = p.popLocked(); c != nil {
			p.mu.Unlock()
			continue
		}
		p.busy--
		if p.closed {
			p.n--
			p.mu.Unlock()
			return
		}
		w.parkedAt = evloop.Now()
		p.parked = append(p.parked, w)
		p.mu.Unlock()
		if c = <-w.work; c == nil {
			return
		}
	}
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

// close makes every worker exit once it has no connection.
func (p *workerPool) close() {
	p.mu.Lock()
	p.closed = true
	parked := p.parked
	p.parked = nil
	p.n -= len(parked)
	p.mu.Unlock()
	for _, w := range parked {
		w.work <- nil
	}
}

func (p *workerPool) snapshot() (workers, busy, queued int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.busy, p.queue.Len()
}
