package server

import "golang.org/x/sys/unix"

// acceptNonblock accepts one connection, non-blocking and close-on-exec,
// in one system call.
func acceptNonblock(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}

// defaultMemoryBudget is half the machine's memory: past it, idle
// connections are kept for shorter (the budget is a signal, not a limit).
func defaultMemoryBudget() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit) / 2
}
