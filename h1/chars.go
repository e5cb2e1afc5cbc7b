package h1

// Character classes, as 256-entry tables so that the hot loops do one load
// per byte.

// tchar (RFC 9110 §5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
var isTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

// isValueChar: field-vchar / SP / HTAB (RFC 9110 §5.5), where field-vchar is
// VCHAR / obs-text. Excludes NUL, CR, LF, the other controls and DEL.
var isValueChar = func() (t [256]bool) {
	for c := 0x21; c <= 0x7e; c++ {
		t[c] = true
	}
	for c := 0x80; c <= 0xff; c++ {
		t[c] = true
	}
	t[' '], t['\t'] = true, true
	return
}()

// isTargetChar: the bytes dally accepts in a request-target. RFC 3986 allows
// fewer (no `"`, `<`, `>`, `\`, `^`, "`", `{`, `|`, `}`), but clients send
// those raw and servers accept them; they cannot hide a message boundary.
// Controls, SP, DEL, non-ASCII and "#" (a fragment is never sent, RFC 9112
// §3.2.1) are rejected. See docs/conformance.md.
var isTargetChar = func() (t [256]bool) {
	for c := 0x21; c <= 0x7e; c++ {
		t[c] = true
	}
	t['#'] = false
	return
}()

// isRegNameChar: unreserved / sub-delims (RFC 3986 §3.2.2). pct-encoded is
// deliberately absent: dally does not decode host names.
var isRegNameChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=" {
		t[c] = true
	}
	return
}()

// isQdtext: qdtext (RFC 9110 §5.6.4) = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
var isQdtext = func() (t [256]bool) {
	t = isValueChar
	t['"'], t['\\'] = false, false
	return
}()

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals the lower-case ASCII literal s, ignoring
// ASCII case. It does not allocate.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes compares two byte slices ignoring ASCII case.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar[c] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextListElem splits a comma-separated list (RFC 9110 §5.6.1): it returns
// the next element with OWS trimmed (possibly empty: empty elements are
// allowed and ignored by recipients) and the rest after the comma. Commas
// inside quoted strings are not special-cased: the lists parsed here
// (Connection, Content-Length, Transfer-Encoding codings without quoted
// parameters) hold tokens, and a quote makes the element invalid anyway.
func nextListElem(b []byte) (elem, rest []byte, more bool) {
	for i, c := range b {
		if c == ',' {
			return trimOWS(b[:i]), b[i+1:], true
		}
	}
	return trimOWS(b), nil, false
}

// ValidFieldName reports whether name is a token (RFC 9110 §5.1).
func ValidFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTchar[name[i]] {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether value may be sent as a field value: no
// CR, LF, NUL or other control (HTAB aside), and no leading or trailing
// whitespace (RFC 9110 §5.5).
func ValidFieldValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if !isValueChar[value[i]] {
			return false
		}
	}
	return value == "" || (!isOWS(value[0]) && !isOWS(value[len(value)-1]))
}
