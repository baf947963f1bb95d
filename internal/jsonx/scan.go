package jsonx

import "bytes"

// Validate reports whether b holds exactly one JSON value (surrounding
// whitespace allowed) that is well-formed per RFC 8259, valid UTF-8 inside
// strings, nested at most maxDepth deep (zero means DefaultMaxDepth) and free
// of duplicate object keys.
func Validate(b []byte, maxDepthLimit int) error {
	d := getDecoder(b, maxDepthLimit)
	defer putDecoder(d)
	for {
		k, err := d.Next()
		if err != nil {
			return err
		}
		if k == KindEnd {
			return nil
		}
	}
}

// Member is one member of a JSON object: its unescaped key and raw value.
type Member struct {
	Key   string
	Value []byte
}

// ObjectMembers validates b as a single JSON object (as Validate does) and
// returns its members in order. Values alias b.
func ObjectMembers(b []byte, maxDepthLimit int) ([]Member, error) {
	d := getDecoder(b, maxDepthLimit)
	defer putDecoder(d)
	if err := d.object(); err != nil {
		return nil, err
	}
	out := make([]Member, 0, 8)
	for {
		k, err := d.Next()
		if err != nil {
			return nil, err
		}
		if k == KindObjectEnd {
			break
		}
		key := d.Text()
		v, err := d.Skip()
		if err != nil {
			return nil, err
		}
		out = append(out, Member{Key: key, Value: v})
	}
	if _, err := d.Next(); err != nil {
		return nil, err
	}
	return out, nil
}

// object reads the '{' that must begin the input.
func (d *Decoder) object() error {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return d.fail("expected JSON object")
	}
	_, err := d.Next()
	return err
}

// WalkObject calls fn for each top-level member of the object b, which the
// caller has already validated. It stops early when fn returns false.
// Members up to where it stops are validated again on the way.
func WalkObject(b []byte, fn func(key string, value []byte) bool) error {
	d := getDecoder(b, noLimit)
	defer putDecoder(d)
	if err := d.object(); err != nil {
		return err
	}
	for {
		k, err := d.Next()
		if err != nil || k == KindObjectEnd {
			return err
		}
		key := d.Text()
		v, err := d.Skip()
		if err != nil {
			return err
		}
		if !fn(key, v) {
			return nil
		}
	}
}

// Get returns the raw value of the top-level member key of the already
// validated object b. Names are compared after unescaping, case-sensitively.
func Get(b []byte, key string) (value []byte, ok bool) {
	d := getDecoder(b, noLimit)
	defer putDecoder(d)
	if d.object() != nil {
		return nil, false
	}
	for {
		k, err := d.Next()
		if err != nil || k == KindObjectEnd {
			return nil, false
		}
		match := d.TextIs(key)
		v, err := d.Skip()
		if err != nil {
			return nil, false
		}
		if match {
			return v, true
		}
	}
}

// WalkArray calls fn with each element of the array b, which the caller has
// already validated. It stops early when fn returns false.
func WalkArray(b []byte, fn func(elem []byte) bool) error {
	d := getDecoder(b, noLimit)
	defer putDecoder(d)
	d.ws()
	if d.i >= len(b) || b[d.i] != '[' {
		return d.fail("expected JSON array")
	}
	if _, err := d.Next(); err != nil {
		return err
	}
	for {
		k, err := d.Next()
		if err != nil || k == KindArrayEnd {
			return err
		}
		v, err := d.Skip()
		if err != nil {
			return err
		}
		if !fn(v) {
			return nil
		}
	}
}

// Elements calls fn with each element of the array that is the member key
// of the already validated object obj, reading obj once (Get and then
// WalkArray would read the array twice), and returns the array's bytes.
// Once fn returns false it is not called again. arr is nil when obj has
// no member key; a member that is not an array is an error.
func Elements(obj []byte, key string, fn func(elem []byte) bool) (arr []byte, err error) {
	d := getDecoder(obj, noLimit)
	defer putDecoder(d)
	if err := d.object(); err != nil {
		return nil, err
	}
	for {
		k, err := d.Next()
		if err != nil || k == KindObjectEnd {
			return nil, err
		}
		if !d.TextIs(key) {
			if _, err := d.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		if k, err := d.Next(); err != nil || k != KindArrayStart {
			if err == nil {
				err = d.fail("expected JSON array")
			}
			return nil, err
		}
		start, more := d.start, true
		for {
			k, err := d.Next()
			if err != nil {
				return nil, err
			}
			if k == KindArrayEnd {
				return obj[start:d.end], nil
			}
			v, err := d.Skip()
			if err != nil {
				return nil, err
			}
			if more {
				more = fn(v)
			}
		}
	}
}

// IsObject reports whether the raw value starts an object.
func IsObject(v []byte) bool { v = bytes.TrimLeft(v, " \t\r\n"); return len(v) > 0 && v[0] == '{' }

// IsString reports whether the raw value starts a string.
func IsString(v []byte) bool { v = bytes.TrimLeft(v, " \t\r\n"); return len(v) > 0 && v[0] == '"' }

// IsNull reports whether the raw value is the literal null.
func IsNull(v []byte) bool { return string(bytes.TrimSpace(v)) == "null" }

// String decodes a raw JSON string value. ok is false if v is not exactly
// one valid JSON string (surrounding whitespace allowed).
func String(v []byte) (s string, ok bool) {
	v = bytes.Trim(v, " \t\r\n")
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	end, esc, err := scanString(v, 0, false)
	if err != nil || end != len(v) {
		return "", false
	}
	if !esc {
		return interned(v[1 : len(v)-1]), true
	}
	return string(appendUnquoted(make([]byte, 0, len(v)), v[1:len(v)-1])), true
}
