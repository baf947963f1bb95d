// Package base64url decodes the unpadded base64url (RFC 4648 section 5) in which
// tokens, nonces, sealed values and cursors travel, the one way the RFCs
// allow: encoding/base64 skips carriage returns and line feeds inside its
// input, and without Strict accepts non-zero trailing bits, so that many
// strings decode to the same bytes. A value decoded here has exactly one
// spelling, so that nothing keyed on its text (a cache, a use-once set, a
// log line) can be passed by another spelling of it.
package base64url

import (
	"encoding/base64"
	"errors"
	"strings"
)

// ErrNotCanonical is returned for input that is not the canonical
// unpadded base64url encoding of any bytes.
var ErrNotCanonical = errors.New("not canonical unpadded base64url")

var strict = base64.RawURLEncoding.Strict()

// Decode decodes s, which must be canonical unpadded base64url: only the
// 64 characters of the URL-safe alphabet (RFC 4648 section 3.3: data
// outside the alphabet is rejected, line breaks included), no padding, and
// zero bits after the last whole byte (section 3.5).
func Decode(s string) ([]byte, error) {
	b, err := strict.DecodeString(s)
	// The decoder skips CR and LF without a word: then the text is
	// longer than the encoding of what it decoded to.
	if err != nil || base64.RawURLEncoding.EncodedLen(len(b)) != len(s) {
		return nil, ErrNotCanonical
	}
	return b, nil
}

// CompactJWS checks that s has the form of a JWS Compact Serialization
// (RFC 7515 section 7.1): three canonical unpadded base64url segments
// (section 2: "without the inclusion of any line breaks, whitespace, or
// other additional characters") joined by two dots, the first and last
// not empty. It decodes nothing for the caller: the JOSE library parses
// the token after it.
func CompactJWS(s string) error {
	h, rest, ok := strings.Cut(s, ".")
	if !ok {
		return errors.New("not a compact JWS: no dot")
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 {
		return errors.New("not a compact JWS: not three segments")
	}
	if h == "" || sig == "" {
		return errors.New("not a compact JWS: empty header or signature")
	}
	for _, seg := range [...]string{h, payload, sig} {
		if !Canonical(seg) {
			return errors.New("not a compact JWS: a segment is not canonical base64url")
		}
	}
	return nil
}

// Canonical reports whether seg is canonical unpadded base64url, as Decode
// requires, without keeping what it decodes to.
func Canonical(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if !alphabet(seg[i]) {
			return false
		}
	}
	switch len(seg) % 4 {
	case 1:
		return false // no whole byte in the last group
	case 2, 3:
		// The last group's unused low bits must be zero: decode it alone.
		tail := seg[len(seg)-len(seg)%4:]
		var buf [3]byte
		_, err := strict.Decode(buf[:], []byte(tail))
		return err == nil
	}
	return true
}

func alphabet(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
