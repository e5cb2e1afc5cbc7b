//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package netpoll

// Poller is unavailable on this system: New returns ErrUnsupported, and the
// server reports that from Serve. The h1 codec, the policy package and the
// client work everywhere.
type Poller struct{}

func New() (*Poller, error)                      { return nil, ErrUnsupported }
func (p *Poller) Add(fd int) error               { return ErrUnsupported }
func (p *Poller) Del(fd int) error               { return ErrUnsupported }
func (p *Poller) Wait([]Event, int) (int, error) { return 0, ErrUnsupported }
func (p *Poller) Poll([]Event) (int, error)      { return 0, ErrUnsupported }
func (p *Poller) Wake() error                    { return ErrUnsupported }
func (p *Poller) Close() error                   { return ErrUnsupported }
