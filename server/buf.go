package server

import "sync"

// bufSize is the read buffer a connection takes when bytes arrive and gives
// back when it goes idle. 4 KiB holds a typical head and a few pipelined
// ones; longer heads grow the buffer up to the head limit.
const bufSize = 4 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() []byte { return *(bufPool.Get().(*[]byte)) }

// putBuf returns buffers of the standard size; grown ones go to the GC.
func putBuf(b []byte) {
	if cap(b) != bufSize {
		return
	}
	b = b[:bufSize]
	bufPool.Put(&b)
}
