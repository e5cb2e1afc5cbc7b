//go:build linux

package netpoll

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller wraps one epoll instance and an eventfd used to wake it.
//
// Wait does not block a thread in epoll_wait: the epoll descriptor is
// itself pollable (readable while it has events), so it is handed to the Go
// runtime's poller and the waiting goroutine parks there, like any network
// read. epoll_wait is then only called with a zero timeout. A goroutine
// blocked in a raw epoll_wait would hold its P until the runtime's monitor
// takes it back (20 µs to 10 ms), stalling the handler goroutines queued
// on it.
//
// Wait's timeout is a periodic timerfd in the epoll set, not a read
// deadline: a deadline is a runtime timer, re-armed on every Wait, and a
// processor holding any timer reads the clock on every goroutine switch.
type Poller struct {
	// Immutable after New.
	epfd    int
	wakefd  int
	timerfd int
	period  int                // Owned by the goroutine calling Wait: the timerfd's period in ms, 0 when disarmed
	file    *os.File           // epfd, registered with the runtime poller
	rc      syscall.RawConn    // file's raw access
	raw     []unix.EpollEvent  // Owned by the goroutine calling Wait.
	pollFn  func(uintptr) bool // p.poll, bound once: a method value per Wait would allocate
	n       int                // Owned by the goroutine calling Wait: poll's results
	werr    error
	praw    []unix.EpollEvent // Owned by the goroutine calling Poll.
}

// poll is the raw read callback: a zero-timeout epoll_wait. It returns
// true (stop waiting) when there are events or an error.
func (p *Poller) poll(fd uintptr) bool {
	p.n, p.werr = epollNow(int(fd), p.raw)
	if p.werr == unix.EINTR {
		p.n, p.werr = 0, nil
	}
	return p.n > 0 || p.werr != nil
}

// epollNow is epoll_wait with a zero timeout, as a raw system call: it
// never blocks, so the runtime need not be told (unix.EpollWait goes
// through entersyscall and exitsyscall). Telling it costs more than the
// bookkeeping: a system call entered while the runtime's monitor thread
// sleeps, because every processor was idle, wakes that thread and resets
// its polling to every 20 µs. A loop that goes idle and busy thousands of
// times a second kept it waking about every 90 µs, each time a context
// switch on the server's processor.
func epollNow(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	// epoll_pwait with no signal mask is epoll_wait, and exists on every
	// architecture (arm64 has no epoll_wait).
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// New creates a poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	timerfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, timerfd: timerfd}
	fail := func(op string, err error) (*Poller, error) {
		unix.Close(epfd)
		unix.Close(wakefd)
		unix.Close(timerfd)
		return nil, os.NewSyscallError(op, err)
	}
	// The wake and timer descriptors are level-triggered: Wait drains them.
	for _, fd := range []int{wakefd, timerfd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fail("epoll_ctl", err)
		}
	}
	// Non-blocking, so that os.NewFile registers it with the runtime poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		return fail("fcntl", err)
	}
	p.file = os.NewFile(uintptr(epfd), "epoll")
	rc, err := p.file.SyscallConn()
	if err != nil {
		p.file.Close()
		unix.Close(wakefd)
		unix.Close(timerfd)
		return nil, err
	}
	p.rc = rc
	p.pollFn = p.poll
	return p, nil
}

// Add registers fd for edge-triggered read, write and hang-up events. If fd
// is already readable or writable, the first Wait reports it.
func (p *Poller) Add(fd int) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(fd),
	}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev))
}

// Del removes fd. Closing fd removes it too; Del is for descriptors that
// live on (a hijacked connection).
func (p *Poller) Del(fd int) error {
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil))
}

// Wait fills events and returns how many it filled. timeoutMs < 0 waits
// without limit. Wake-ups are consumed here and not reported.
//
// The timeout is a period: Wait returns at the latest timeoutMs after the
// previous period ended, which for a loop calling Wait again at once is
// timeoutMs after it began.
func (p *Poller) Wait(events []Event, timeoutMs int) (int, error) {
	if cap(p.raw) < len(events) {
		p.raw = make([]unix.EpollEvent, len(events))
	}
	p.raw = p.raw[:len(events)]
	raw := p.raw
	if timeoutMs == 0 {
		n, err := epollNow(p.epfd, raw)
		if err != nil && err != unix.EINTR {
			return 0, os.NewSyscallError("epoll_wait", err)
		}
		return p.convert(raw[:n], events, false), nil
	}
	if err := p.arm(max(timeoutMs, 0)); err != nil {
		return 0, err
	}
	p.n, p.werr = 0, nil
	if err := p.rc.Read(p.pollFn); err != nil {
		return 0, err
	}
	if p.werr != nil {
		return 0, os.NewSyscallError("epoll_wait", p.werr)
	}
	return p.convert(raw[:p.n], events, false), nil
}

// arm sets the timerfd's period to ms (0: disarmed) unless it has it.
func (p *Poller) arm(ms int) error {
	if ms == p.period {
		return nil
	}
	d := unix.NsecToTimespec(int64(ms) * int64(time.Millisecond))
	spec := unix.ItimerSpec{Interval: d, Value: d}
	if err := unix.TimerfdSettime(p.timerfd, 0, &spec, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	p.period = ms
	return nil
}

// Poll is a Wait that does not wait, for a goroutine other than Wait's
// (one at a time): it fills events with what is ready now.
func (p *Poller) Poll(events []Event) (int, error) {
	if cap(p.praw) < len(events) {
		p.praw = make([]unix.EpollEvent, len(events))
	}
	raw := p.praw[:len(events)]
	n, err := epollNow(p.epfd, raw)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return p.convert(raw[:n], events, true), nil
}

// convert turns raw events into events, consuming wake-ups.
func (p *Poller) convert(raw []unix.EpollEvent, events []Event, helper bool) int {
	j := 0
	for _, e := range raw {
		if fd := int(e.Fd); fd == p.wakefd || fd == p.timerfd {
			// A Poll leaves the tick for Wait (level-triggered, it stays
			// ready): the loop's turn, timers and all, must not be lost
			// because a helper saw it first.
			if fd == p.wakefd || !helper {
				var b [8]byte
				unix.Read(fd, b[:])
			}
			continue
		}
		var f uint32
		if e.Events&unix.EPOLLIN != 0 {
			f |= Readable
		}
		if e.Events&unix.EPOLLOUT != 0 {
			f |= Writable
		}
		if e.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
			f |= HangUp
		}
		if e.Events&unix.EPOLLERR != 0 {
			f |= Failed
		}
		events[j] = Event{Fd: e.Fd, Flags: f}
		j++
	}
	return j
}

// Wake makes a Wait in progress (or the next one) return.
func (p *Poller) Wake() error {
	b := [8]byte{1}
	_, err := unix.Write(p.wakefd, b[:])
	if err == unix.EAGAIN { // the counter is saturated: a wake is pending anyway
		return nil
	}
	return os.NewSyscallError("write", err)
}

// Close releases the poller.
func (p *Poller) Close() error {
	unix.Close(p.wakefd)
	unix.Close(p.timerfd)
	return p.file.Close()
}
