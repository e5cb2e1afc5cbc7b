package h1

import "iter"

// Role says which side of a connection decides about persistence.
type Role uint8

const (
	RoleServer Role = iota
	RoleClient
	RoleProxy
)

// Persistent reports whether the connection may carry another message after
// the current exchange, from the most recently received message's version
// and Connection options (RFC 9112 §9.3, the table of the RFC 7230 §6 notes):
//
//   - "close" ends the connection;
//   - HTTP/1.1 (and 1.x, x > 1) persists by default;
//   - HTTP/1.0 persists only with "keep-alive", and never when the
//     recipient is a proxy: RFC 7230 §6.3 forbids a proxy a persistent
//     connection with an HTTP/1.0 peer (an old proxy between may have
//     forwarded keep-alive blindly, RFC 2068 §19.7.1);
//   - other options name hop-by-hop fields and change nothing.
//
// Whether the body's length is self-delimited is a separate condition, which
// the caller checks with RequestBody or ResponseBody (BodyUntilClose).
func Persistent(major, minor int, c ConnTokens, role Role) bool {
	switch {
	case c.Close:
		return false
	case major == 1 && minor >= 1, major > 1:
		return true
	}
	return c.KeepAlive && role != RoleProxy
}

// Persistent is Persistent for this request as received by role.
func (r *Request) Persistent(role Role) bool { return Persistent(r.Major, r.Minor, r.Conn, role) }

// Persistent is Persistent for this response as received by role.
func (r *Response) Persistent(role Role) bool { return Persistent(r.Major, r.Minor, r.Conn, role) }

// IsHopByHop reports whether name is a field that never crosses an
// intermediary whatever the Connection field says (RFC 9110 §7.6.1):
// Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade.
//
// Trailer is not in the set: RFC 9110 §6.6.2 makes it end-to-end (RFC 2616
// listed it). Proxy-Authenticate and Proxy-Authorization are not either:
// RFC 9110 §11.7 lets proxies relay them; the proxy consumes its own
// credentials, which is its business, not the codec's.
func IsHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "te")
	case 7:
		return equalFold(name, "upgrade")
	case 10:
		return equalFold(name, "connection") || equalFold(name, "keep-alive")
	case 16:
		return equalFold(name, "proxy-connection")
	case 17:
		return equalFold(name, "transfer-encoding")
	}
	return false
}

// ConnectionTokens yields every option of every Connection field line in
// fields, empty elements skipped. The slices alias the fields.
func ConnectionTokens(fields []Field) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for _, f := range fields {
			if !equalFold(f.Name, "connection") {
				continue
			}
			v := f.Value
			for more := true; more; {
				var e []byte
				e, v, more = nextListElem(v)
				if len(e) > 0 && !yield(e) {
					return
				}
			}
		}
	}
}

// ListedInConnection reports whether a Connection field line in fields
// names the field name (RFC 9110 §7.6.1). It does not allocate.
func ListedInConnection(fields []Field, name []byte) bool {
	for _, f := range fields {
		if !equalFold(f.Name, "connection") {
			continue
		}
		v := f.Value
		for more := true; more; {
			var e []byte
			e, v, more = nextListElem(v)
			if equalFoldBytes(e, name) {
				return true
			}
		}
	}
	return false
}

// HopByHop reports whether a proxy must drop the field name from a message
// with these fields: a fixed hop-by-hop field or one its Connection names.
func HopByHop(fields []Field, name []byte) bool {
	return IsHopByHop(name) || ListedInConnection(fields, name)
}

// IsHopByHop is HopByHop for this request's fields.
func (r *Request) IsHopByHop(name []byte) bool { return HopByHop(r.Fields, name) }

// IsHopByHop is HopByHop for this response's fields.
func (r *Response) IsHopByHop(name []byte) bool { return HopByHop(r.Fields, name) }
