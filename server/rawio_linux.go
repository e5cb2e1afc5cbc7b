package server

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// readNB and writeNB are read(2) and write(2) on a non-blocking socket,
// made without the runtime's system-call bookkeeping (entersyscall and
// exitsyscall, which let another thread take the processor over a call
// that may block): these calls never block, and the bookkeeping was
// about a tenth of the server's own instructions per request. They
// return (n, nil) or (0, errno) like unix.Read and unix.Write.
func readNB(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func writeNB(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
