package jsonx

import (
	"bytes"
)

// member locates one member of an object by offsets in its bytes: from
// its name's opening quote to the end of its value.
type member struct {
	start, vstart, end int
}

// span locates member key of the already validated object obj, and the
// offset of the object's closing brace.
func span(obj []byte, key string) (m member, found bool, closing int, empty bool, err error) {
	d := getDecoder(obj, noLimit)
	defer putDecoder(d)
	if err := d.object(); err != nil {
		return m, false, 0, false, err
	}
	count := 0
	for {
		k, err := d.Next()
		if err != nil {
			return m, false, 0, false, err
		}
		if k == KindObjectEnd {
			return m, found, d.start, count == 0, nil
		}
		count++
		start, match := d.start, !found && d.TextIs(key)
		v, err := d.Skip()
		if err != nil {
			return m, false, 0, false, err
		}
		if match {
			m, found = member{start: start, vstart: d.end - len(v), end: d.end}, true
		}
	}
}

// Set returns a copy of the validated object obj with member key set to the
// raw JSON value val, replacing an existing member in place or appending a
// new one. Bytes outside the edited member are kept as they were.
func Set(obj []byte, key string, val []byte) ([]byte, error) {
	m, found, closing, empty, err := span(obj, key)
	if err != nil {
		return nil, err
	}
	if found {
		out := make([]byte, 0, len(obj)-(m.end-m.vstart)+len(val))
		out = append(out, obj[:m.vstart]...)
		out = append(out, val...)
		return append(out, obj[m.end:]...), nil
	}
	qk := Quote(key)
	out := make([]byte, 0, len(obj)+len(qk)+len(val)+2)
	out = append(out, obj[:closing]...)
	if !empty {
		// Drop whitespace before '}' so the comma sits after the last value.
		out = bytes.TrimRight(out, " \t\r\n")
		out = append(out, ',')
	}
	out = append(out, qk...)
	out = append(out, ':')
	out = append(out, val...)
	return append(out, obj[closing:]...), nil
}

// Delete returns the validated object obj without member key (obj itself if
// the key is absent).
func Delete(obj []byte, key string) ([]byte, error) {
	m, found, _, _, err := span(obj, key)
	if err != nil || !found {
		return obj, err
	}
	start, end := m.start, m.end
	// Remove the member and one adjacent comma.
	j := end
	for j < len(obj) && isSpace(obj[j]) {
		j++
	}
	if j < len(obj) && obj[j] == ',' {
		end = j + 1
	} else {
		k := start - 1
		for k >= 0 && isSpace(obj[k]) {
			k--
		}
		if k >= 0 && obj[k] == ',' {
			start = k
		}
	}
	out := make([]byte, 0, len(obj)-(end-start))
	out = append(out, obj[:start]...)
	return append(out, obj[end:]...), nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Quote returns s as a JSON string literal. Unlike strconv.Quote it escapes
// only what JSON requires (plus HTML-significant characters are left alone).
func Quote(s string) []byte {
	return AppendQuote(make([]byte, 0, len(s)+2), s)
}

const hexDigits = "0123456789abcdef"

// AppendQuote appends s as a JSON string literal to dst.
func AppendQuote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c < 0x80 {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == 0xFFFD && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
