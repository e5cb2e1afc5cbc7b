package h1

// Limits bound what a parser accepts. A zero field means "use the default".
type Limits struct {
	// MaxRequestLine is the longest request-line, CRLF excluded, in bytes.
	// Longer: 414. RFC 9112 §3 recommends supporting at least 8000 octets.
	MaxRequestLine int
	// MaxHeadBytes bounds the whole head: start line, field lines and the
	// final CRLF. Larger: 431 (RFC 6585 §5).
	MaxHeadBytes int
	// MaxFields bounds the number of field lines. More: 431.
	MaxFields int
	// MaxChunkExt bounds the chunk extensions of one chunk-size line, in
	// bytes. They are syntax-checked and then ignored (RFC 9112 §7.1.1), so
	// they are only ever a cost. Longer: 400.
	MaxChunkExt int
	// MaxTrailerBytes and MaxTrailerFields bound the trailer section, the
	// final CRLF included. More: 431.
	MaxTrailerBytes  int
	MaxTrailerFields int
}

// DefaultLimits are used for a nil *Limits and for zero fields.
//
// 8 KiB request line: RFC 9112 §3's 8000-octet floor rounded up; browsers cap
// URLs near that too. 64 KiB head: 100 fields of ~600 bytes (cookies, tokens)
// fit with room to spare, while 10k idle-then-slow connections holding a full
// head cost at most 640 MB worst case, a bound the server's memory pressure
// signal can see coming. 100 fields: net/http and nginx accept more, but real
// browsers send 10-20. 4 KiB of chunk extensions: nobody sends any in
// practice; 4 KiB keeps a size line within one small read. Trailers are rare:
// 8 KiB and 20 fields.
var DefaultLimits = Limits{
	MaxRequestLine:   8 << 10,
	MaxHeadBytes:     64 << 10,
	MaxFields:        100,
	MaxChunkExt:      4 << 10,
	MaxTrailerBytes:  8 << 10,
	MaxTrailerFields: 20,
}

// maxEmptyLines bounds the empty lines ignored before a start line
// (RFC 9112 §2.2: a server SHOULD ignore at least one). Real clients send at
// most one, after a body (old browsers after a POST).
const maxEmptyLines = 4

// orDefault returns l with zero fields replaced by the defaults. It returns a
// value so that the caller's *Limits never escapes (no allocation).
func (l *Limits) orDefault() Limits {
	if l == nil {
		return DefaultLimits
	}
	v := *l
	d := &DefaultLimits
	if v.MaxRequestLine <= 0 {
		v.MaxRequestLine = d.MaxRequestLine
	}
	if v.MaxHeadBytes <= 0 {
		v.MaxHeadBytes = d.MaxHeadBytes
	}
	if v.MaxFields <= 0 {
		v.MaxFields = d.MaxFields
	}
	if v.MaxChunkExt <= 0 {
		v.MaxChunkExt = d.MaxChunkExt
	}
	if v.MaxTrailerBytes <= 0 {
		v.MaxTrailerBytes = d.MaxTrailerBytes
	}
	if v.MaxTrailerFields <= 0 {
		v.MaxTrailerFields = d.MaxTrailerFields
	}
	return v
}
