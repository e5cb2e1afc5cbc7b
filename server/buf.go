package server

import "sync"

// bufSize is the read buffer a connection takes when bytes arrive and gives
// back when it goes idle. 4 KiB holds a typical head and a few pipelined
// ones; longer heads grow the buffer up to the head limit.
const bufSize = 4 << 10

// The pool holds array pointers, so that putting a buffer back does not
// allocate a slice header.
var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

func getBuf() []byte { return bufPool.Get().(*[bufSize]byte)[:] }

// putBuf returns buffers of the standard size; grown ones go to the GC.
func putBuf(b []byte) {
	if cap(b) != bufSize {
		return
	}
	bufPool.Put((*[bufSize]byte)(b[:bufSize]))
}

// workerBufs is how many free buffers a worker keeps: a request cycle takes
// a read buffer, an output buffer and a body buffer and gives them back,
// and the worker's own cache spares the shared pool those six trips. Of
// the parked workers only the warmWorkers most recent (the next to run)
// keep theirs; an idle connection still holds none.
const workerBufs = 3

// getBuf takes a buffer from the worker's cache, or the pool.
func (w *worker) getBuf() []byte {
	if w.nbuf > 0 {
		w.nbuf--
		b := w.bufs[w.nbuf]
		w.bufs[w.nbuf] = nil
		return b[:bufSize]
	}
	return getBuf()
}

// putBuf gives a standard buffer to the worker's cache, or the pool.
func (w *worker) putBuf(b []byte) {
	if cap(b) != bufSize {
		return
	}
	if w.nbuf < workerBufs {
		w.bufs[w.nbuf] = b[:0]
		w.nbuf++
		return
	}
	putBuf(b)
}

// dropBufs empties the cache into the pool (the worker is ending, or
// parked below the warm ones).
func (w *worker) dropBufs() {
	for w.nbuf > 0 {
		w.nbuf--
		putBuf(w.bufs[w.nbuf])
		w.bufs[w.nbuf] = nil
	}
}
