package jcs

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// MaxDepth is the deepest nesting Canonicalize accepts.
const MaxDepth = 256

// ErrNumber reports a number that is not a finite IEEE 754 double (RFC 8785
// section 3.2.2.3: NaN and Infinity are not valid JSON; 1e400 overflows).
var ErrNumber = errors.New("jcs: number outside the range of an IEEE 754 double")

// Canonicalize returns the RFC 8785 canonical form of the JSON text b.
func Canonicalize(b []byte) ([]byte, error) {
	return Append(nil, b)
}

// parsers recycles parsers (decoder, scratch buffer, member stack): the
// audit log canonicalises every call's arguments.
var parsers = sync.Pool{New: func() any { return &parser{d: jsonx.NewDecoder(nil, jsonx.Options{})} }}

// maxPooled bounds the scratch space of a parser put back in the pool.
const maxPooled = 64 << 10

// Append appends the canonical form of the JSON text b to dst.
func Append(dst, b []byte) ([]byte, error) {
	p := parsers.Get().(*parser)
	p.d.Reset(b, jsonx.Options{MaxDepth: MaxDepth, IJSON: true})
	p.buf, p.stack = slices.Grow(p.buf[:0], 2*len(b)+16), p.stack[:0]
	defer func() {
		if cap(p.buf) <= maxPooled && cap(p.stack) <= maxPooled/32 {
			p.d.Reset(nil, jsonx.Options{})
			parsers.Put(p)
		}
	}()
	k, err := p.d.Next()
	if err != nil {
		return dst, fmt.Errorf("jcs: %w", err)
	}
	s, e, err := p.value(k)
	if err == nil {
		_, err = p.d.Next() // only whitespace may follow
	}
	if errors.Is(err, ErrNumber) {
		return dst, err
	}
	if err != nil {
		return dst, fmt.Errorf("jcs: %w", err)
	}
	return append(dst, p.buf[s:e]...), nil
}

// member locates, in the parser's scratch buffer, one object member's
// decoded name and canonical value.
type member struct{ ks, ke, vs, ve int }

// parser canonicalises in one pass over the tokens of the gateway's JSON
// decoder (internal/jsonx, in I-JSON mode: valid UTF-8, no lone surrogate
// escapes, unique member names after unescaping, bounded depth). Every
// value's canonical form is appended to buf and reported as a span;
// containers collect their children's spans on a shared stack and then
// append their own form. buf therefore holds garbage between spans, but
// nothing is allocated per value.
type parser struct {
	d     *jsonx.Decoder
	buf   []byte
	stack []member
}

// value canonicalises the value whose first token, of kind k, was just
// read.
func (p *parser) value(k jsonx.Kind) (int, int, error) {
	switch k {
	case jsonx.KindObjectStart:
		return p.object()
	case jsonx.KindArrayStart:
		return p.array()
	case jsonx.KindString:
		ds := len(p.buf)
		p.buf = p.d.AppendText(p.buf)
		de := len(p.buf)
		s := len(p.buf)
		p.buf = appendString(p.buf, p.buf[ds:de])
		return s, len(p.buf), nil
	case jsonx.KindNumber:
		f, err := strconv.ParseFloat(string(p.d.Raw()), 64)
		if err != nil {
			return 0, 0, ErrNumber
		}
		s := len(p.buf)
		p.buf, err = AppendNumber(p.buf, f)
		if err != nil {
			return 0, 0, err
		}
		return s, len(p.buf), nil
	case jsonx.KindTrue, jsonx.KindFalse, jsonx.KindNull:
		s := len(p.buf)
		p.buf = append(p.buf, p.d.Raw()...)
		return s, len(p.buf), nil
	}
	return 0, 0, fmt.Errorf("unexpected %v", k)
}

func (p *parser) object() (int, int, error) {
	base := len(p.stack)
	for {
		k, err := p.d.Next()
		if err != nil {
			return 0, 0, err
		}
		if k == jsonx.KindObjectEnd {
			break
		}
		ks := len(p.buf)
		p.buf = p.d.AppendText(p.buf)
		ke := len(p.buf)
		if k, err = p.d.Next(); err != nil {
			return 0, 0, err
		}
		vs, ve, err := p.value(k)
		if err != nil {
			return 0, 0, err
		}
		p.stack = append(p.stack, member{ks, ke, vs, ve})
	}
	ms := p.stack[base:]
	buf := p.buf
	// RFC 8785 section 3.2.3: members are sorted by their names as arrays
	// of UTF-16 code units, compared unsigned, independent of locale. The
	// decoder has refused duplicate names (I-JSON, RFC 7493 section 2.3).
	slices.SortFunc(ms, func(a, b member) int { return CompareUTF16(buf[a.ks:a.ke], buf[b.ks:b.ke]) })
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
	return s, len(p.buf), nil
}

func (p *parser) array() (int, int, error) {
	base := len(p.stack)
	for {
		k, err := p.d.Next()
		if err != nil {
			return 0, 0, err
		}
		if k == jsonx.KindArrayEnd {
			break
		}
		vs, ve, err := p.value(k)
		if err != nil {
			return 0, 0, err
		}
		p.stack = append(p.stack, member{vs: vs, ve: ve})
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
	return s, len(p.buf), nil
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
	// Runs of bytes that stand for themselves are copied whole.
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	dst = append(dst, s[start:]...)
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
