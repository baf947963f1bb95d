package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Argument limits, checked before validation so that no value reaches the
// validator that could make it slow: number literals with huge exponents
// cost the validator's exact arithmetic (math/big) time exponential in the
// exponent's digits.
const (
	maxNumberLen  = 128
	maxExponent   = 1000
	defaultDepth  = 32
	defaultValues = 100_000
)

// errArgs reports arguments outside the limits; its message is shown to
// the client.
type errArgs struct{ msg string }

func (e *errArgs) Error() string { return e.msg }

var errSyntax = &errArgs{"arguments are not valid JSON"}

// decodeArgs decodes raw arguments into the value shapes the validator
// expects (map[string]any, []any, string, json.Number, bool, nil) and
// checks the limits on the way. The gateway's JSON chokepoint has already
// validated the bytes (UTF-8, grammar, depth, no duplicate keys), so this
// is a direct recursive descent rather than a reflective decode; it still
// checks every byte it relies on and fails cleanly on anything else.
func decodeArgs(raw []byte, maxDepth, maxValues int) (any, error) {
	d := argDecoder{b: raw, maxDepth: maxDepth, maxValues: maxValues}
	d.ws()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, &errArgs{"arguments are not a single JSON value"}
	}
	return v, nil
}

type argDecoder struct {
	b                   []byte
	i                   int
	maxDepth, maxValues int
	count               int
}

func (d *argDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *argDecoder) value(depth int) (any, error) {
	if d.count++; d.count > d.maxValues {
		return nil, &errArgs{fmt.Sprintf("arguments hold more than %d values", d.maxValues)}
	}
	if d.i >= len(d.b) {
		return nil, errSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth >= d.maxDepth {
			return nil, &errArgs{fmt.Sprintf("arguments are nested deeper than %d levels", d.maxDepth)}
		}
		return d.object(depth)
	case c == '[':
		if depth >= d.maxDepth {
			return nil, &errArgs{fmt.Sprintf("arguments are nested deeper than %d levels", d.maxDepth)}
		}
		return d.array(depth)
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return nil, d.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, errSyntax
}

func (d *argDecoder) lit(w string) error {
	if len(d.b)-d.i < len(w) || string(d.b[d.i:d.i+len(w)]) != w {
		return errSyntax
	}
	d.i += len(w)
	return nil
}

func (d *argDecoder) object(depth int) (any, error) {
	d.i++ // '{'
	obj := make(map[string]any)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return obj, nil
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errSyntax
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errSyntax
		}
		d.i++
		d.ws()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, dup := obj[k]; dup {
			return nil, &errArgs{"arguments repeat an object key"}
		}
		obj[k] = v
		d.ws()
		if d.i >= len(d.b) {
			return nil, errSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return obj, nil
		default:
			return nil, errSyntax
		}
	}
}

func (d *argDecoder) array(depth int) (any, error) {
	d.i++ // '['
	arr := []any{}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return arr, nil
	}
	for {
		d.ws()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		d.ws()
		if d.i >= len(d.b) {
			return nil, errSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return arr, nil
		default:
			return nil, errSyntax
		}
	}
}

// str reads a string; escapes (rare in arguments) go through
// encoding/json, which implements every JSON escape including surrogate
// pairs.
func (d *argDecoder) str() (string, error) {
	start := d.i
	d.i++ // '"'
	escaped := false
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			if !escaped {
				s := d.b[start+1 : d.i-1]
				if !utf8.Valid(s) {
					return "", errSyntax
				}
				return string(s), nil
			}
			var s string
			if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
				return "", errSyntax
			}
			return s, nil
		case c == '\\':
			escaped = true
			d.i += 2
		case c < 0x20:
			return "", errSyntax
		default:
			d.i++
		}
	}
	return "", errSyntax
}

// number reads a number literal (RFC 8259 section 6) and refuses those too
// long or too far out of range for any tool to mean them.
func (d *argDecoder) number() (any, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, errSyntax
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, errSyntax
		}
	}
	exp := 0
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		expStart := d.i
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, errSyntax
		}
		var err error
		if d.i-expStart > 8 {
			exp = maxExponent + 1
		} else if exp, err = strconv.Atoi(string(d.b[expStart:d.i])); err != nil {
			return nil, errSyntax
		}
	}
	if d.i-start > maxNumberLen {
		return nil, &errArgs{fmt.Sprintf("a number in the arguments is longer than %d characters", maxNumberLen)}
	}
	if exp > maxExponent || exp < -maxExponent {
		return nil, &errArgs{"a number in the arguments is out of range"}
	}
	return json.Number(d.b[start:d.i]), nil
}
