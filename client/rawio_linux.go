//go:build linux && !race

package client

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeNB and readNB are writeWait's system calls on its non-blocking
// socket: sendto(2) with MSG_NOSIGNAL (a peer that is gone gives EPIPE,
// no SIGPIPE) and recvfrom(2) with no address, the kernel's shorter
// paths, made without the runtime's system-call bookkeeping (entersyscall
// and exitsyscall, which let another thread take the processor over a
// call that may block): on a non-blocking socket they never block. As
// dally's server makes its own. They return (n, nil) or (0, errno).
// Under the race detector, rawio_other.go's syscall.Write and Read are
// used instead: they tell it that bytes written to a descriptor happen
// before bytes read from one.
func writeNB(fd int, p []byte) (int, error) { return rawIO(unix.SYS_SENDTO, fd, p, unix.MSG_NOSIGNAL) }
func readNB(fd int, p []byte) (int, error)  { return rawIO(unix.SYS_RECVFROM, fd, p, 0) }

// rawIO is sendto or recvfrom (trap) of p on fd with flags and no address.
func rawIO(trap uintptr, fd int, p []byte, flags uintptr) (int, error) {
	n, _, e := unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), flags, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
