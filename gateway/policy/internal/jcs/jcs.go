package jcs

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting Canonicalize accepts.
const MaxDepth = 256

// SyntaxError reports input that is not I-JSON, and where.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "jcs: " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// ErrNumber reports a number that is not a finite IEEE 754 double (RFC 8785
// section 3.2.2.3: NaN and Infinity are not valid JSON; 1e400 overflows).
var ErrNumber = errors.New("jcs: number outside the range of an IEEE 754 double")

// Canonicalize returns the RFC 8785 canonical form of the JSON text b.
func Canonicalize(b []byte) ([]byte, error) {
	return Append(nil, b)
}

// Append appends the canonical form of the JSON text b to dst.
func Append(dst, b []byte) ([]byte, error) {
	p := parser{in: b, buf: make([]byte, 0, 2*len(b)+16)}
	p.ws()
	s, e, err := p.value()
	if err != nil {
		return dst, err
	}
	p.ws()
	if p.i != len(p.in) {
		return dst, p.fail("trailing data after value")
	}
	return append(dst, p.buf[s:e]...), nil
}

// member locates, in the parser's scratch buffer, one object member's
// decoded name and canonical value.
type member struct{ ks, ke, vs, ve int }

// parser validates and canonicalises in one pass. Every value's canonical
// form is appended to buf and reported as a span; containers collect their
// children's spans on a shared stack and then append their own form. buf
// therefore holds garbage between spans, but nothing is allocated per value.
type parser struct {
	in    []byte
	i     int
	depth int
	buf   []byte
	stack []member
}

func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.i, Msg: msg} }

func (p *parser) ws() {
	for p.i < len(p.in) {
		switch p.in[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() (int, int, error) {
	if p.i >= len(p.in) {
		return 0, 0, p.fail("unexpected end of input")
	}
	switch c := p.in[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		ds, de, err := p.str()
		if err != nil {
			return 0, 0, err
		}
		s := len(p.buf)
		p.buf = appendString(p.buf, p.buf[ds:de])
		return s, len(p.buf), nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	}
	return 0, 0, p.fail("invalid character")
}

func (p *parser) lit(w string) (int, int, error) {
	if len(p.in)-p.i < len(w) || string(p.in[p.i:p.i+len(w)]) != w {
		return 0, 0, p.fail("invalid literal")
	}
	p.i += len(w)
	s := len(p.buf)
	p.buf = append(p.buf, w...)
	return s, len(p.buf), nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.fail("nesting too deep")
	}
	return nil
}

func (p *parser) object() (int, int, error) {
	if err := p.enter(); err != nil {
		return 0, 0, err
	}
	p.i++ // {
	base := len(p.stack)
	p.ws()
	if p.i < len(p.in) && p.in[p.i] == '}' {
		p.i++
	} else {
		for {
			p.ws()
			if p.i >= len(p.in) || p.in[p.i] != '"' {
				return 0, 0, p.fail("expected string key in object")
			}
			ks, ke, err := p.str()
			if err != nil {
				return 0, 0, err
			}
			p.ws()
			if p.i >= len(p.in) || p.in[p.i] != ':' {
				return 0, 0, p.fail("expected ':' after object key")
			}
			p.i++
			p.ws()
			vs, ve, err := p.value()
			if err != nil {
				return 0, 0, err
			}
			p.stack = append(p.stack, member{ks, ke, vs, ve})
			p.ws()
			if p.i >= len(p.in) {
				return 0, 0, p.fail("unterminated object")
			}
			if p.in[p.i] == '}' {
				p.i++
				break
			}
			if p.in[p.i] != ',' {
				return 0, 0, p.fail("expected ',' or '}' in object")
			}
			p.i++
		}
	}
	ms := p.stack[base:]
	buf := p.buf
	// RFC 8785 section 3.2.3: members are sorted by their names as arrays
	// of UTF-16 code units, compared unsigned, independent of locale.
	slices.SortFunc(ms, func(a, b member) int { return CompareUTF16(buf[a.ks:a.ke], buf[b.ks:b.ke]) })
	for j := 1; j < len(ms); j++ {
		if CompareUTF16(buf[ms[j-1].ks:ms[j-1].ke], buf[ms[j].ks:ms[j].ke]) == 0 {
			// I-JSON (RFC 7493 section 2.3): names must be unique.
			return 0, 0, p.fail("duplicate member name")
		}
	}
	s := len(p.buf)
	p.buf = append(p.buf, '{')
	for j, m := range ms {
		if j > 0 {
			p.buf = append(p.buf, ',')
		}
		p.buf = appendString(p.buf, p.buf[m.ks:m.ke])
		p.buf = append(p.buf, ':')
		p.buf = append(p.buf, p.buf[m.vs:m.ve]...)
	}
	p.buf = append(p.buf, '}')
	p.stack = p.stack[:base]
	p.depth--
	return s, len(p.buf), nil
}

func (p *parser) array() (int, int, error) {
	if err := p.enter(); err != nil {
		return 0, 0, err
	}
	p.i++ // [
	base := len(p.stack)
	p.ws()
	if p.i < len(p.in) && p.in[p.i] == ']' {
		p.i++
	} else {
		for {
			p.ws()
			vs, ve, err := p.value()
			if err != nil {
				return 0, 0, err
			}
			p.stack = append(p.stack, member{vs: vs, ve: ve})
			p.ws()
			if p.i >= len(p.in) {
				return 0, 0, p.fail("unterminated array")
			}
			if p.in[p.i] == ']' {
				p.i++
				break
			}
			if p.in[p.i] != ',' {
				return 0, 0, p.fail("expected ',' or ']' in array")
			}
			p.i++
		}
	}
	s := len(p.buf)
	p.buf = append(p.buf, '[')
	for j, m := range p.stack[base:] {
		if j > 0 {
			p.buf = append(p.buf, ',')
		}
		p.buf = append(p.buf, p.buf[m.vs:m.ve]...)
	}
	p.buf = append(p.buf, ']')
	p.stack = p.stack[:base]
	p.depth--
	return s, len(p.buf), nil
}

// str decodes the string at p.i into buf and returns the span of its
// UTF-8 bytes (without quotes).
func (p *parser) str() (int, int, error) {
	p.i++ // opening quote
	s := len(p.buf)
	for p.i < len(p.in) {
		c := p.in[p.i]
		switch {
		case c == '"':
			p.i++
			return s, len(p.buf), nil
		case c == '\\':
			if p.i+1 >= len(p.in) {
				return 0, 0, p.fail("unterminated escape")
			}
			e := p.in[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				p.buf = append(p.buf, e)
			case 'b':
				p.buf = append(p.buf, '\b')
			case 'f':
				p.buf = append(p.buf, '\f')
			case 'n':
				p.buf = append(p.buf, '\n')
			case 'r':
				p.buf = append(p.buf, '\r')
			case 't':
				p.buf = append(p.buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return 0, 0, p.fail("invalid unicode escape")
				}
				if r >= 0xDC00 && r <= 0xDFFF {
					return 0, 0, p.fail("lone low surrogate")
				}
				if r >= 0xD800 && r <= 0xDBFF {
					// A high surrogate must be followed by an escaped low one
					// (I-JSON section 2.1 forbids lone surrogates).
					if p.i+1 >= len(p.in) || p.in[p.i] != '\\' || p.in[p.i+1] != 'u' {
						return 0, 0, p.fail("lone high surrogate")
					}
					p.i += 2
					lo, ok := p.hex4()
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return 0, 0, p.fail("lone high surrogate")
					}
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				}
				p.buf = utf8.AppendRune(p.buf, r)
			default:
				return 0, 0, p.fail("invalid escape")
			}
		case c < 0x20:
			return 0, 0, p.fail("control character in string")
		case c < utf8.RuneSelf:
			p.buf = append(p.buf, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.in[p.i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, 0, p.fail("invalid UTF-8")
			}
			p.buf = append(p.buf, p.in[p.i:p.i+size]...)
			p.i += size
		}
	}
	return 0, 0, p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.in)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.in[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

func (p *parser) number() (int, int, error) {
	start := p.i
	if p.in[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.in) && p.in[p.i] == '0':
		p.i++
	case p.i < len(p.in) && p.in[p.i] >= '1' && p.in[p.i] <= '9':
		for p.i < len(p.in) && p.in[p.i] >= '0' && p.in[p.i] <= '9' {
			p.i++
		}
	default:
		return 0, 0, p.fail("invalid number")
	}
	if p.i < len(p.in) && p.in[p.i] == '.' {
		p.i++
		if !p.digits() {
			return 0, 0, p.fail("invalid number")
		}
	}
	if p.i < len(p.in) && (p.in[p.i] == 'e' || p.in[p.i] == 'E') {
		p.i++
		if p.i < len(p.in) && (p.in[p.i] == '+' || p.in[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return 0, 0, p.fail("invalid number")
		}
	}
	f, err := strconv.ParseFloat(string(p.in[start:p.i]), 64)
	if err != nil {
		return 0, 0, ErrNumber
	}
	s := len(p.buf)
	p.buf, err = AppendNumber(p.buf, f)
	if err != nil {
		return 0, 0, err
	}
	return s, len(p.buf), nil
}

func (p *parser) digits() bool {
	n := p.i
	for p.i < len(p.in) && p.in[p.i] >= '0' && p.in[p.i] <= '9' {
		p.i++
	}
	return p.i > n
}

// AppendNumber appends f as ECMAScript's Number.prototype.toString writes
// it (ECMA-262 section 7.1.12.1, which RFC 8785 section 3.2.2.3 adopts):
// the shortest decimal that round-trips, in plain notation for magnitudes
// in [1e-6, 1e21) and in exponent notation otherwise; -0 is "0". NaN and
// the infinities are ErrNumber.
func AppendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, ErrNumber
	}
	if f == 0 {
		return append(dst, '0'), nil
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// strconv's shortest representation is the one ECMAScript requires:
	// the fewest digits k that round-trip, closest to f when several do.
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // d[.ddd]e±XX
	var digits [24]byte
	k := 0
	j := 0
	for ; e[j] != 'e'; j++ {
		if e[j] != '.' {
			digits[k] = e[j]
			k++
		}
	}
	exp, _ := strconv.Atoi(string(e[j+1:]))
	n := exp + 1 // f = 0.d1d2...dk × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits[:k]...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:k]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits[:k]...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:k]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst, nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as JSON.stringify quotes it (RFC 8785 section
// 3.2.2.2): '"' and '\' escaped, the control characters with a short form
// (\b \t \n \f \r) in that form, other controls as \u00xx in lowercase hex,
// and every other character as its UTF-8 bytes.
func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20:
			dst = append(dst, c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return append(dst, '"')
}

// AppendString appends s as a canonical JSON string.
// s must be valid UTF-8 (RFC 8785 is defined on I-JSON).
func AppendString(dst []byte, s string) []byte { return appendString(dst, s) }

// CompareUTF16 compares two valid UTF-8 strings by their UTF-16 code
// units, as RFC 8785 section 3.2.3 orders member names. It differs from
// byte order only where a character above U+FFFF (a surrogate pair,
// 0xD800-0xDBFF first) meets one in U+E000-U+FFFF.
func CompareUTF16(a, b []byte) int {
	var pa, pb uint16 // pending low surrogates
	for {
		var ua, ub uint16
		var oka, okb bool
		ua, a, pa, oka = nextUnit(a, pa)
		ub, b, pb, okb = nextUnit(b, pb)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1
		case !okb:
			return 1
		case ua != ub:
			if ua < ub {
				return -1
			}
			return 1
		}
	}
}

func nextUnit(s []byte, pending uint16) (uint16, []byte, uint16, bool) {
	if pending != 0 {
		return pending, s, 0, true
	}
	if len(s) == 0 {
		return 0, s, 0, false
	}
	if s[0] < utf8.RuneSelf {
		return uint16(s[0]), s[1:], 0, true
	}
	r, size := utf8.DecodeRune(s)
	if r < 0x10000 {
		return uint16(r), s[size:], 0, true
	}
	r -= 0x10000
	return uint16(0xD800 + r>>10), s[size:], uint16(0xDC00 + r&0x3FF), true
}
