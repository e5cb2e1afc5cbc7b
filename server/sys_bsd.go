//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// acceptNonblock accepts one connection and makes it non-blocking and
// close-on-exec (macOS has no accept4; the fork lock keeps the window
// between accept and FD_CLOEXEC closed to a concurrent exec).
func acceptNonblock(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, sa, nil
}

// defaultMemoryBudget: unknown here, so memory adds no pressure unless
// Server.MemoryBudget is set.
func defaultMemoryBudget() int64 { return 0 }
