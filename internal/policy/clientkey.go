package policy

import (
	"encoding/binary"
	"net/netip"
)

// IPv6ClientBits is the prefix length that identifies one IPv6 client. A
// single host commonly holds a whole /64 and can draw a fresh address from it
// for every connection, so per-address fairness would hand it as many
// shares as it likes.
const IPv6ClientBits = 64

// ClientKey identifies a client for the Scheduler and Clients: an IPv4
// address, or an IPv6 /64 prefix. It is comparable, holds no pointers and
// is cheap to hash. The zero value is the key of an invalid address (and of
// ::/64, which holds :: and ::1).
type ClientKey struct{ hi, lo uint64 }

const v4Marker = 0xffff << 32 // lo of an IPv4 key: ::ffff:a.b.c.d

// ClientOf is the key of the client at a. IPv4 and IPv4-mapped IPv6
// addresses give the same key; an IPv6 address is truncated to its /64
// (IPv6ClientBits); zones are dropped.
func ClientOf(a netip.Addr) ClientKey {
	a = a.Unmap()
	switch {
	case a.Is4():
		b := a.As4()
		return ClientKey{lo: v4Marker | uint64(binary.BigEndian.Uint32(b[:]))}
	case a.Is6():
		b := a.As16()
		return ClientKey{hi: binary.BigEndian.Uint64(b[:8])}
	}
	return ClientKey{}
}

// String is the IPv4 address or the IPv6 prefix, for logs and the status
// page.
func (k ClientKey) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	if k.hi == 0 && k.lo>>32 == 0xffff {
		return netip.AddrFrom16(b).Unmap().String()
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), IPv6ClientBits).String()
}
