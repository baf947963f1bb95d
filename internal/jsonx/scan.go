package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// DefaultMaxDepth is the nesting limit used when a caller passes zero.
const DefaultMaxDepth = 64

// errStop ends a walk early; it never leaves the package.
var errStop = errors.New("stop")

// ErrDepth reports a value nested deeper than the limit.
var ErrDepth = errors.New("json: nesting too deep")

// SyntaxError describes malformed JSON and where it was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("json: %s at offset %d", e.Msg, e.Offset)
}

// scanner walks a byte slice; it validates everything it passes over.
type scanner struct {
	b     []byte
	i     int
	depth int
	max   int
}

func (s *scanner) fail(msg string) error { return &SyntaxError{Offset: s.i, Msg: msg} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value validates one JSON value starting at s.i (after whitespace) and
// leaves s.i just past it.
func (s *scanner) value() error {
	s.ws()
	if s.i >= len(s.b) {
		return s.fail("unexpected end of input")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	default:
		return s.fail("invalid character " + strconv.QuoteRune(rune(c)))
	}
}

func (s *scanner) lit(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return s.fail("invalid literal")
	}
	s.i += len(w)
	return nil
}

func (s *scanner) number() error {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return s.fail("invalid number")
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if s.b[s.i] >= '1' && s.b[s.i] <= '9' {
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	} else {
		return s.fail("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return s.fail("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return s.fail("invalid number")
		}
	}
	if s.i == start {
		return s.fail("invalid number")
	}
	return nil
}

func (s *scanner) digits() bool {
	n := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > n
}

// str validates a string starting at the opening quote and reports whether
// it contained escapes. s.i ends just past the closing quote.
func (s *scanner) str() (escaped bool, err error) {
	s.i++ // opening quote
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return escaped, s.fail("unterminated escape")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 || !isHex4(s.b[s.i+1:s.i+5]) {
					return escaped, s.fail("invalid unicode escape")
				}
				s.i += 5
			default:
				return escaped, s.fail("invalid escape")
			}
		case c < 0x20:
			return escaped, s.fail("control character in string")
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return escaped, s.fail("invalid UTF-8 in string")
			}
			s.i += size
		}
	}
	return escaped, s.fail("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > s.max {
		return ErrDepth
	}
	return nil
}

func (s *scanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail("unterminated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or ']' in array")
		}
	}
}

// member is one object member as spans of the scanned bytes.
type member struct {
	key        string // unescaped
	start, end int    // whole member: from the key's opening quote to the end of the value
	vstart     int    // value start
}

// object validates an object starting at '{'. If visit is non-nil it is
// called for each member (keys unescaped). Duplicate keys are an error.
func (s *scanner) object(visit func(m member) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++ // {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	var seen []string // small objects: a slice beats a map
	var seenSet map[string]struct{}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail("expected string key in object")
		}
		kstart := s.i
		esc, err := s.str()
		if err != nil {
			return err
		}
		key, err := keyString(s.b[kstart:s.i], esc)
		if err != nil {
			return s.fail("invalid key")
		}
		if seenSet != nil {
			if _, dup := seenSet[key]; dup {
				return s.fail("duplicate key " + strconv.Quote(key))
			}
			seenSet[key] = struct{}{}
		} else {
			for _, k := range seen {
				if k == key {
					return s.fail("duplicate key " + strconv.Quote(key))
				}
			}
			seen = append(seen, key)
			if len(seen) > 16 {
				seenSet = make(map[string]struct{}, 32)
				for _, k := range seen {
					seenSet[k] = struct{}{}
				}
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail("expected ':' after object key")
		}
		s.i++
		s.ws()
		vstart := s.i
		if err := s.value(); err != nil {
			return err
		}
		if visit != nil {
			if err := visit(member{key: key, start: kstart, end: s.i, vstart: vstart}); err != nil {
				return err
			}
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or '}' in object")
		}
	}
}

func keyString(quoted []byte, escaped bool) (string, error) {
	if !escaped {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var k string
	err := json.Unmarshal(quoted, &k)
	return k, err
}

func maxDepth(n int) int {
	if n <= 0 {
		return DefaultMaxDepth
	}
	return n
}

// Validate reports whether b holds exactly one JSON value (surrounding
// whitespace allowed) that is well-formed per RFC 8259, valid UTF-8 inside
// strings, nested at most maxDepth deep (zero means DefaultMaxDepth) and free
// of duplicate object keys.
func Validate(b []byte, maxDepthLimit int) error {
	s := scanner{b: b, max: maxDepth(maxDepthLimit)}
	defer tally(&s)
	if err := s.value(); err != nil {
		return err
	}
	s.ws()
	if s.i != len(b) {
		return s.fail("trailing data after value")
	}
	return nil
}

// Member is one member of a JSON object: its unescaped key and raw value.
type Member struct {
	Key   string
	Value []byte
}

// ObjectMembers validates b as a single JSON object (as Validate does) and
// returns its members in order. Values alias b.
func ObjectMembers(b []byte, maxDepthLimit int) ([]Member, error) {
	s := scanner{b: b, max: maxDepth(maxDepthLimit)}
	defer tally(&s)
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return nil, s.fail("expected JSON object")
	}
	var out []Member
	err := s.object(func(m member) error {
		out = append(out, Member{Key: m.key, Value: trimRight(b[m.vstart:m.end])})
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.i != len(b) {
		return nil, s.fail("trailing data after value")
	}
	return out, nil
}

// WalkObject calls fn for each top-level member of the object b, which the
// caller has already validated. It stops early when fn returns false.
func WalkObject(b []byte, fn func(key string, value []byte) bool) error {
	s := scanner{b: b, max: 1 << 30}
	defer tally(&s)
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return s.fail("expected JSON object")
	}
	err := s.object(func(m member) error {
		if !fn(m.key, trimRight(b[m.vstart:m.end])) {
			return errStop
		}
		return nil
	})
	if err == errStop {
		return nil
	}
	return err
}

func trimRight(b []byte) []byte { return bytes.TrimRight(b, " \t\r\n") }

// IsObject reports whether the raw value starts an object.
func IsObject(v []byte) bool { v = bytes.TrimLeft(v, " \t\r\n"); return len(v) > 0 && v[0] == '{' }

// IsString reports whether the raw value starts a string.
func IsString(v []byte) bool { v = bytes.TrimLeft(v, " \t\r\n"); return len(v) > 0 && v[0] == '"' }

// IsNull reports whether the raw value is the literal null.
func IsNull(v []byte) bool { return string(bytes.TrimSpace(v)) == "null" }

// String decodes a raw JSON string value. ok is false if v is not a string.
func String(v []byte) (s string, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// Get returns the raw value of the top-level member key of the already
// validated object b.
func Get(b []byte, key string) (value []byte, ok bool) {
	_ = WalkObject(b, func(k string, v []byte) bool {
		if k == key {
			value, ok = v, true
			return false
		}
		return true
	})
	return value, ok
}

// WalkArray calls fn with each element of the array b, which the caller has
// already validated. It stops early when fn returns false.
func WalkArray(b []byte, fn func(elem []byte) bool) error {
	s := scanner{b: b, max: 1 << 30}
	defer tally(&s)
	s.ws()
	if s.i >= len(b) || b[s.i] != '[' {
		return s.fail("expected JSON array")
	}
	s.i++
	s.ws()
	if s.i < len(b) && b[s.i] == ']' {
		return nil
	}
	for {
		s.ws()
		start := s.i
		if err := s.value(); err != nil {
			return err
		}
		if !fn(b[start:s.i]) {
			return nil
		}
		s.ws()
		if s.i >= len(b) {
			return s.fail("unterminated array")
		}
		switch b[s.i] {
		case ',':
			s.i++
		case ']':
			return nil
		default:
			return s.fail("expected ',' or ']' in array")
		}
	}
}
