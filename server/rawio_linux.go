package server

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// readNB and writeNB read and write a non-blocking socket: recvfrom(2)
// and sendto(2) with no address, the shorter kernel paths (no file
// position, no VFS layer; nginx uses them too), sendto with MSG_NOSIGNAL
// so a peer that is gone gives EPIPE without a SIGPIPE. They are made
// without the runtime's system-call bookkeeping (entersyscall and
// exitsyscall, which let another thread take the processor over a call
// that may block): these calls never block, and the bookkeeping was about
// a tenth of the server's own instructions per request. They return
// (n, nil) or (0, errno) like unix.Read and unix.Write. Every descriptor
// the server serves is a stream socket (accepted, or a listener's
// connection's, see takeFD).
func readNB(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(ptr), uintptr(len(p)), 0, 0, 0)
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
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
