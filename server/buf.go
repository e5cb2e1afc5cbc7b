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
