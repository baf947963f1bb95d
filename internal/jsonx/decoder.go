package jsonx

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// DefaultMaxDepth is the nesting limit used when a caller passes zero.
const DefaultMaxDepth = 64

// noLimit is the depth limit of the navigation functions, which read bytes
// already validated within the caller's own limit. The decoder keeps its
// stack on the heap, so no depth can exhaust the goroutine stack.
const noLimit = 1 << 30

// ErrDepth reports a value nested deeper than the limit.
var ErrDepth = errors.New("json: nesting too deep")

// SyntaxError describes JSON that the decoder refuses, and where.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("json: %s at offset %d", e.Msg, e.Offset)
}

// Kind is the kind of a token.
type Kind uint8

// The tokens of a JSON text (RFC 8259 sections 2 to 7). A member's name is
// a token of its own, followed by the tokens of its value.
const (
	KindEnd         Kind = iota // no more tokens: the value is complete (or an error stopped the decoder)
	KindObjectStart             // {
	KindObjectEnd               // }
	KindArrayStart              // [
	KindArrayEnd                // ]
	KindName                    // an object member's name, a string
	KindString
	KindNumber
	KindTrue
	KindFalse
	KindNull
)

var kindNames = [...]string{"end", "object start", "object end", "array start", "array end", "name", "string", "number", "true", "false", "null"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind " + strconv.Itoa(int(k))
}

// Options configure a Decoder. The zero value means the defaults.
type Options struct {
	// MaxDepth is the deepest nesting of objects and arrays accepted. If
	// zero, DefaultMaxDepth.
	MaxDepth int
	// IJSON also refuses what I-JSON (RFC 7493 section 2.1) forbids beyond
	// RFC 8259: an escaped surrogate that is not half of a pair. Without
	// it such an escape is accepted and decodes to U+FFFD, as
	// encoding/json decodes it.
	IJSON bool
}

// Decoder reads one JSON text token by token and validates every byte it
// passes: RFC 8259 grammar, UTF-8 inside strings, the nesting limit, and
// object member names unique after unescaping (compared byte for byte, so
// case-sensitive). Tokens are spans of the input; nothing is copied
// except escaped member names, for the duplicate check.
//
// A Decoder is not safe for concurrent use. The zero value is not ready:
// use NewDecoder or Reset.
type Decoder struct {
	b     []byte
	i     int // read position
	max   int
	ijson bool
	sets  bool // some frame has had a set
	state uint8
	err   error

	// the current token
	kind       Kind
	start, end int
	esc        bool

	stack []frame
	names []name // member names of the open objects
	dec   []byte // decoded escaped names

	// first room for stack and names, so that a decoder of an ordinary
	// message is one allocation
	stackBuf [8]frame
	namesBuf [16]name
}

// frame is one open container; names is the index in Decoder.names where
// an object's names begin (-1 for an array).
type frame struct {
	names int
	set   map[string]struct{} // the object's names, once it has many
}

// name is a member name: inner bytes of the input (without quotes) or,
// when it had escapes, its decoded bytes in Decoder.dec.
type name struct {
	off, end uint32
	decoded  bool
}

// maxInput is the longest input a Decoder reads, so that offsets of names
// fit in a name.
const maxInput = 1<<32 - 1

// manyNames is where an object's duplicate check moves from a linear scan
// to a set.
const manyNames = 16

const (
	stValue       uint8 = iota // a value comes next
	stAfter                    // a value ended: ',', a closing bracket or the end
	stObjectFirst              // after '{': a name or '}'
	stArrayFirst               // after '[': a value or ']'
)

// NewDecoder returns a Decoder reading the JSON text b.
func NewDecoder(b []byte, opts Options) *Decoder {
	d := &Decoder{}
	d.Reset(b, opts)
	return d
}

// Reset makes d read b from the start, keeping its buffers.
func (d *Decoder) Reset(b []byte, opts Options) {
	// Field by field: the buffers need no zeroing.
	d.b, d.i, d.max, d.ijson, d.state, d.err = b, 0, maxDepth(opts.MaxDepth), opts.IJSON, stValue, nil
	d.kind, d.start, d.end, d.esc = KindEnd, 0, 0, false
	if d.stack == nil {
		d.stack, d.names = d.stackBuf[:0], d.namesBuf[:0]
	}
	d.stack, d.names, d.dec = d.stack[:0], d.names[:0], d.dec[:0]
	if len(b) > maxInput {
		d.err = &SyntaxError{Offset: maxInput, Msg: "input too long"}
	}
}

// decoders recycles the decoders of the package's own functions, which
// are called for every message.
var decoders = sync.Pool{New: func() any { return new(Decoder) }}

func getDecoder(b []byte, maxDepth int) *Decoder {
	d := decoders.Get().(*Decoder)
	d.Reset(b, Options{MaxDepth: maxDepth})
	return d
}

func putDecoder(d *Decoder) {
	tally(d)
	if cap(d.stack) > 1024 || cap(d.names) > 1024 || cap(d.dec) > 64<<10 {
		return
	}
	if d.sets {
		clear(d.stack[:cap(d.stack)])
		d.sets = false
	}
	d.Reset(nil, Options{})
	decoders.Put(d)
}

func maxDepth(n int) int {
	if n <= 0 {
		return DefaultMaxDepth
	}
	return n
}

func (d *Decoder) fail(msg string) error { return &SyntaxError{Offset: d.i, Msg: msg} }

// Next reads the next token and returns its kind. After the last token of
// the value it checks that only whitespace follows and returns End. An
// error is final: every later call returns it again.
func (d *Decoder) Next() (Kind, error) {
	if d.err != nil {
		return KindEnd, d.err
	}
	k, err := d.next()
	if err != nil {
		d.err, d.kind = err, KindEnd
		return KindEnd, err
	}
	return k, nil
}

func (d *Decoder) next() (Kind, error) {
	d.ws()
	switch d.state {
	case stValue:
		return d.value()
	case stObjectFirst:
		if d.i < len(d.b) && d.b[d.i] == '}' {
			return d.pop(KindObjectEnd)
		}
		return d.name()
	case stArrayFirst:
		if d.i < len(d.b) && d.b[d.i] == ']' {
			return d.pop(KindArrayEnd)
		}
		return d.value()
	}
	n := len(d.stack)
	if n == 0 {
		if d.i != len(d.b) {
			return KindEnd, d.fail("trailing data after value")
		}
		d.kind, d.start, d.end = KindEnd, d.i, d.i
		return KindEnd, nil
	}
	inObject := d.stack[n-1].names >= 0
	if d.i >= len(d.b) {
		if inObject {
			return KindEnd, d.fail("unterminated object")
		}
		return KindEnd, d.fail("unterminated array")
	}
	c := d.b[d.i]
	if inObject {
		switch c {
		case ',':
			d.i++
			d.ws()
			return d.name()
		case '}':
			return d.pop(KindObjectEnd)
		}
		return KindEnd, d.fail("expected ',' or '}' in object")
	}
	switch c {
	case ',':
		d.i++
		d.ws()
		return d.value()
	case ']':
		return d.pop(KindArrayEnd)
	}
	return KindEnd, d.fail("expected ',' or ']' in array")
}

func (d *Decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value reads the first token of a value at d.i.
func (d *Decoder) value() (Kind, error) {
	if d.i >= len(d.b) {
		return KindEnd, d.fail("unexpected end of input")
	}
	d.start = d.i
	k := KindEnd
	switch c := d.b[d.i]; {
	case c == '{':
		return d.push(KindObjectStart, len(d.names), stObjectFirst)
	case c == '[':
		return d.push(KindArrayStart, -1, stArrayFirst)
	case c == '"':
		end, esc, err := scanString(d.b, d.i, d.ijson)
		if err != nil {
			return KindEnd, err
		}
		d.i, d.esc, k = end, esc, KindString
	case c == '-' || c >= '0' && c <= '9':
		end, err := scanNumber(d.b, d.i)
		if err != nil {
			return KindEnd, err
		}
		d.i, k = end, KindNumber
	case c == 't':
		k = KindTrue
		if err := d.lit("true"); err != nil {
			return KindEnd, err
		}
	case c == 'f':
		k = KindFalse
		if err := d.lit("false"); err != nil {
			return KindEnd, err
		}
	case c == 'n':
		k = KindNull
		if err := d.lit("null"); err != nil {
			return KindEnd, err
		}
	default:
		return KindEnd, d.fail("invalid character " + strconv.QuoteRune(rune(c)))
	}
	d.kind, d.end, d.state = k, d.i, stAfter
	return k, nil
}

func (d *Decoder) lit(w string) error {
	if len(d.b)-d.i < len(w) || string(d.b[d.i:d.i+len(w)]) != w {
		return d.fail("invalid literal")
	}
	d.i += len(w)
	return nil
}

func (d *Decoder) push(k Kind, names int, st uint8) (Kind, error) {
	if len(d.stack) >= d.max {
		return KindEnd, ErrDepth
	}
	d.stack = append(d.stack, frame{names: names})
	d.i++
	d.kind, d.end, d.state = k, d.i, st
	return k, nil
}

func (d *Decoder) pop(k Kind) (Kind, error) {
	f := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	if f.names >= 0 {
		d.names = d.names[:f.names]
		if len(d.names) == 0 {
			d.dec = d.dec[:0]
		}
	}
	d.start = d.i
	d.i++
	d.kind, d.end, d.state = k, d.i, stAfter
	return k, nil
}

// name reads a member name and the ':' after it.
func (d *Decoder) name() (Kind, error) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return KindEnd, d.fail("expected string key in object")
	}
	end, esc, err := scanString(d.b, d.i, d.ijson)
	if err != nil {
		return KindEnd, err
	}
	d.start, d.i, d.end, d.esc, d.kind = d.i, end, end, esc, KindName
	if err := d.unique(); err != nil {
		return KindEnd, err
	}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return KindEnd, d.fail("expected ':' after object key")
	}
	d.i++
	d.state = stValue
	return KindName, nil
}

// unique records the current name in its object and refuses a name the
// object already has. RFC 8259 section 4 leaves duplicate names to the
// reader ("SHOULD be unique"); readers disagree (first or last wins), so
// a gateway that forwards bytes must refuse them, or it could read a
// different member than the server behind it.
func (d *Decoder) unique() error {
	f := &d.stack[len(d.stack)-1]
	n := name{off: uint32(d.start + 1), end: uint32(d.end - 1)}
	if d.esc {
		n.off = uint32(len(d.dec))
		d.dec = appendUnquoted(d.dec, d.b[d.start+1:d.end-1])
		n.end, n.decoded = uint32(len(d.dec)), true
	}
	key := d.nameBytes(n)
	if f.set != nil {
		if _, dup := f.set[string(key)]; dup {
			return d.fail("duplicate key " + strconv.Quote(string(key)))
		}
		f.set[string(key)] = struct{}{}
	} else {
		names := d.names[f.names:]
		for _, m := range names {
			if int(m.end-m.off) == len(key) && bytes.Equal(d.nameBytes(m), key) {
				return d.fail("duplicate key " + strconv.Quote(string(key)))
			}
		}
		if len(names) >= manyNames {
			d.sets = true
			f.set = make(map[string]struct{}, 2*manyNames)
			for _, m := range names {
				f.set[string(d.nameBytes(m))] = struct{}{}
			}
			f.set[string(key)] = struct{}{}
		}
	}
	d.names = append(d.names, n)
	return nil
}

func (d *Decoder) nameBytes(n name) []byte {
	if n.decoded {
		return d.dec[n.off:n.end]
	}
	return d.b[n.off:n.end]
}

// Skip reads the rest of the value that the last token began and returns
// the whole value's bytes: a container up to its closing bracket, a
// scalar as it is. After a Name it reads the member's value whole.
func (d *Decoder) Skip() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.kind == KindName {
		if _, err := d.Next(); err != nil {
			return nil, err
		}
	}
	start := d.start
	switch d.kind {
	case KindObjectStart, KindArrayStart:
		depth := len(d.stack) - 1
		for len(d.stack) > depth {
			if _, err := d.next(); err != nil {
				d.err, d.kind = err, KindEnd
				return nil, err
			}
		}
	case KindString, KindNumber, KindTrue, KindFalse, KindNull:
	default:
		return nil, fmt.Errorf("jsonx: Skip after %v", d.kind)
	}
	return d.b[start:d.end], nil
}

// Kind returns the kind of the current token.
func (d *Decoder) Kind() Kind { return d.kind }

// Raw returns the bytes of the current token as they appear in the input
// (strings and names with their quotes and escapes).
func (d *Decoder) Raw() []byte { return d.b[d.start:d.end] }

// Offset returns the offset in the input where the current token begins.
func (d *Decoder) Offset() int { return d.start }

// Depth returns the number of open objects and arrays.
func (d *Decoder) Depth() int { return len(d.stack) }

// Escaped reports whether the current string or name holds escapes.
func (d *Decoder) Escaped() bool { return d.esc && (d.kind == KindString || d.kind == KindName) }

// AppendText appends the text of the current string or name, unescaped,
// to dst; for other tokens it appends their bytes.
func (d *Decoder) AppendText(dst []byte) []byte {
	if d.kind != KindString && d.kind != KindName {
		return append(dst, d.Raw()...)
	}
	inner := d.b[d.start+1 : d.end-1]
	if !d.esc {
		return append(dst, inner...)
	}
	return appendUnquoted(dst, inner)
}

// Text returns the text of the current string or name, unescaped.
func (d *Decoder) Text() string {
	if (d.kind == KindString || d.kind == KindName) && !d.esc {
		return interned(d.b[d.start+1 : d.end-1])
	}
	return string(d.AppendText(nil))
}

// TextIs reports whether the current token is a string or name whose
// text, unescaped, is s.
func (d *Decoder) TextIs(s string) bool {
	if d.kind != KindString && d.kind != KindName {
		return false
	}
	if !d.esc {
		return string(d.b[d.start+1:d.end-1]) == s
	}
	if d.kind == KindName { // decoded by unique
		n := d.names[len(d.names)-1]
		return string(d.dec[n.off:n.end]) == s
	}
	var buf [64]byte
	return string(appendUnquoted(buf[:0], d.b[d.start+1:d.end-1])) == s
}

// safe marks the bytes a string holds as they are: printable ASCII other
// than '"' and '\'.
var safe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString validates the string that starts at b[i] ('"') and returns
// the offset just past it and whether it holds escapes. With ijson, an
// escaped surrogate must be half of a pair.
func scanString(b []byte, i int, ijson bool) (int, bool, error) {
	fail := func(j int, msg string) (int, bool, error) { return 0, false, &SyntaxError{Offset: j, Msg: msg} }
	esc := false
	i++
	for {
		for i < len(b) && safe[b[i]] {
			i++
		}
		if i >= len(b) {
			return fail(i, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return fail(i+1, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return fail(i+1, "invalid unicode escape")
				}
				i += 6
				if ijson && r >= 0xD800 && r <= 0xDFFF {
					if r >= 0xDC00 {
						return fail(i-6, "lone surrogate escape")
					}
					lo, ok := rune(0), false
					if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						lo, ok = hex4(b, i+2)
					}
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return fail(i-6, "lone surrogate escape")
					}
					i += 6
				}
			default:
				return fail(i+1, "invalid escape")
			}
		case c < 0x20:
			return fail(i, "control character in string")
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return fail(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

// hex4 reads the four hexadecimal digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// scanNumber validates the number that starts at b[i] (RFC 8259 section
// 6) and returns the offset just past it.
func scanNumber(b []byte, i int) (int, error) {
	fail := func() (int, error) { return 0, &SyntaxError{Offset: i, Msg: "invalid number"} }
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return fail()
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			i = j
			return fail()
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return fail()
		}
		i = j
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
