// Package h1 is dally's HTTP/1.x wire codec: bytes in, decisions out.
//
// It knows no sockets, no goroutines and no clocks. Heads are parsed
// incrementally from a []byte that the caller grows: a parse either returns
// the message and the bytes its head used, or ErrNeedMore, or an *Error that
// carries the status a server should answer (400, 413, 414, 431, 501, 505).
// Parsing the same bytes whole, one at a time or split anywhere gives the same
// result, because a parse always starts over from the first byte.
//
// The syntax is RFC 9112's, read strictly: bare LF, bare CR, obs-fold,
// whitespace before a colon, control characters, ambiguous framing
// (Content-Length with Transfer-Encoding, differing lengths, chunked not last)
// are errors, never guesses. A proxy must never forward a message that two
// parsers could read differently. The leniencies dally keeps, and where it
// differs from the llhttp and Apache test corpora, are listed in
// docs/conformance.md.
//
// Parsed values (Field, Method, Target, Host...) alias the input buffer: they
// are valid until the caller reuses that memory.
package h1
