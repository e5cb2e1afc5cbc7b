//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package netpoll

import (
	"os"

	"golang.org/x/sys/unix"
)

// Poller wraps one kqueue and a user event used to wake it.
type Poller struct {
	kq   int
	raw  []unix.Kevent_t // Owned by the goroutine calling Wait.
	praw []unix.Kevent_t // Owned by the goroutine calling Poll.
}

const wakeIdent = 0 // EVFILT_USER identifier; never a socket's fd (0 is stdin)

// New creates a poller.
func New() (*Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	unix.CloseOnExec(kq)
	ev := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Flags: unix.EV_ADD | unix.EV_CLEAR}}
	if _, err := unix.Kevent(kq, ev, nil, nil); err != nil {
		unix.Close(kq)
		return nil, os.NewSyscallError("kevent", err)
	}
	return &Poller{kq: kq}, nil
}

// Add registers fd for edge-triggered (EV_CLEAR) read and write events.
func (p *Poller) Add(fd int) error {
	ev := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_ADD | unix.EV_CLEAR},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_ADD | unix.EV_CLEAR},
	}
	_, err := unix.Kevent(p.kq, ev, nil, nil)
	return os.NewSyscallError("kevent", err)
}

// Del removes fd.
func (p *Poller) Del(fd int) error {
	ev := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_DELETE},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_DELETE},
	}
	_, err := unix.Kevent(p.kq, ev, nil, nil)
	return os.NewSyscallError("kevent", err)
}

// Wait fills events; see the package contract.
func (p *Poller) Wait(events []Event, timeoutMs int) (int, error) {
	if cap(p.raw) < len(events) {
		p.raw = make([]unix.Kevent_t, len(events))
	}
	var ts *unix.Timespec
	if timeoutMs >= 0 {
		t := unix.NsecToTimespec(int64(timeoutMs) * 1e6)
		ts = &t
	}
	return p.wait(p.raw[:len(events)], events, ts)
}

// Poll is a Wait that does not wait, for a goroutine other than Wait's
// (one at a time): it fills events with what is ready now.
func (p *Poller) Poll(events []Event) (int, error) {
	if cap(p.praw) < len(events) {
		p.praw = make([]unix.Kevent_t, len(events))
	}
	var zero unix.Timespec
	return p.wait(p.praw[:len(events)], events, &zero)
}

func (p *Poller) wait(raw []unix.Kevent_t, events []Event, ts *unix.Timespec) (int, error) {
	n, err := unix.Kevent(p.kq, nil, raw, ts)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, os.NewSyscallError("kevent", err)
	}
	j := 0
	for i := 0; i < n; i++ {
		e := raw[i]
		if e.Filter == unix.EVFILT_USER {
			continue
		}
		var f uint32
		switch e.Filter {
		case unix.EVFILT_READ:
			f = Readable
		case unix.EVFILT_WRITE:
			f = Writable
		}
		if e.Flags&unix.EV_EOF != 0 {
			f |= HangUp
		}
		if e.Flags&unix.EV_ERROR != 0 {
			f |= Failed
		}
		events[j] = Event{Fd: int32(e.Ident), Flags: f}
		j++
	}
	return j, nil
}

// Wake makes a Wait in progress (or the next one) return.
func (p *Poller) Wake() error {
	ev := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Fflags: unix.NOTE_TRIGGER}}
	_, err := unix.Kevent(p.kq, ev, nil, nil)
	return os.NewSyscallError("kevent", err)
}

// Close releases the poller.
func (p *Poller) Close() error { return os.NewSyscallError("close", unix.Close(p.kq)) }
