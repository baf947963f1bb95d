package pii

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// maxWalkDepth bounds JSON nesting in values the policy rewrites.
const maxWalkDepth = 128

var errMalformed = errors.New("pii: malformed JSON")

// rewriter walks one JSON value and replaces string values in place. Only
// the bytes of changed strings are re-encoded; everything else, member
// names included, is copied as received.
type rewriter struct {
	in    []byte
	i     int
	depth int
	out   []byte
	last  int // in[last:] is not yet copied to out
	fn    func(s string) (string, bool)
	// maybe is a cheap test on a string's raw bytes (no escapes): false
	// means fn would find nothing, and the string is not decoded.
	maybe func(raw []byte) bool
}

// rewriteStrings returns b with fn applied to every string value, and
// whether anything changed (if not, b itself is returned). Values of
// "_meta" members are left alone, and so are long base64 payloads under
// "data" and "blob" (image, audio and binary resource content).
func rewriteStrings(b []byte, maybe func([]byte) bool, fn func(string) (string, bool)) ([]byte, bool, error) {
	w := rewriter{in: b, fn: fn, maybe: maybe}
	w.ws()
	if err := w.value(""); err != nil {
		return nil, false, err
	}
	w.ws()
	if w.i != len(b) {
		return nil, false, errMalformed
	}
	if w.out == nil {
		return b, false, nil
	}
	w.out = append(w.out, b[w.last:]...)
	return w.out, true, nil
}

func (w *rewriter) ws() {
	for w.i < len(w.in) {
		switch w.in[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *rewriter) value(key string) error {
	if w.i >= len(w.in) {
		return errMalformed
	}
	switch c := w.in[w.i]; {
	case c == '{':
		return w.object()
	case c == '[':
		return w.array(key)
	case c == '"':
		start := w.i
		escaped, err := w.skipString()
		if err != nil {
			return err
		}
		raw := w.in[start+1 : w.i-1]
		if (key == "data" || key == "blob") && isBase64Payload(raw) {
			return nil
		}
		if !escaped && !w.maybe(raw) {
			return nil
		}
		s, ok := jsonx.String(w.in[start:w.i])
		if !ok {
			return errMalformed
		}
		repl, changed := w.fn(s)
		if changed {
			if w.out == nil {
				w.out = make([]byte, 0, len(w.in)+16)
			}
			w.out = append(w.out, w.in[w.last:start]...)
			w.out = jsonx.AppendQuote(w.out, repl)
			w.last = w.i
		}
		return nil
	default:
		return w.scalar()
	}
}

func (w *rewriter) object() error {
	if w.depth++; w.depth > maxWalkDepth {
		return errMalformed
	}
	w.i++
	w.ws()
	if w.i < len(w.in) && w.in[w.i] == '}' {
		w.i++
		w.depth--
		return nil
	}
	for {
		w.ws()
		if w.i >= len(w.in) || w.in[w.i] != '"' {
			return errMalformed
		}
		ks := w.i
		escaped, err := w.skipString()
		if err != nil {
			return err
		}
		key := ""
		if escaped {
			key, _ = jsonx.String(w.in[ks:w.i])
		} else {
			key = string(w.in[ks+1 : w.i-1])
		}
		w.ws()
		if w.i >= len(w.in) || w.in[w.i] != ':' {
			return errMalformed
		}
		w.i++
		w.ws()
		if key == "_meta" {
			if err := w.skipValue(); err != nil {
				return err
			}
		} else if err := w.value(key); err != nil {
			return err
		}
		w.ws()
		if w.i >= len(w.in) {
			return errMalformed
		}
		switch w.in[w.i] {
		case ',':
			w.i++
		case '}':
			w.i++
			w.depth--
			return nil
		default:
			return errMalformed
		}
	}
}

func (w *rewriter) array(key string) error {
	if w.depth++; w.depth > maxWalkDepth {
		return errMalformed
	}
	w.i++
	w.ws()
	if w.i < len(w.in) && w.in[w.i] == ']' {
		w.i++
		w.depth--
		return nil
	}
	for {
		w.ws()
		if err := w.value(key); err != nil {
			return err
		}
		w.ws()
		if w.i >= len(w.in) {
			return errMalformed
		}
		switch w.in[w.i] {
		case ',':
			w.i++
		case ']':
			w.i++
			w.depth--
			return nil
		default:
			return errMalformed
		}
	}
}

// skipValue passes over one value, validating it, without rewriting.
func (w *rewriter) skipValue() error {
	saved := w.fn
	w.fn = func(s string) (string, bool) { return s, false }
	maybe := w.maybe
	w.maybe = func([]byte) bool { return false }
	err := w.value("")
	w.fn, w.maybe = saved, maybe
	return err
}

// skipString passes over a string starting at its opening quote, checking
// escapes and UTF-8, and reports whether it held escapes.
func (w *rewriter) skipString() (bool, error) {
	w.i++
	escaped := false
	for w.i < len(w.in) {
		c := w.in[w.i]
		switch {
		case c == '"':
			w.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if w.i+1 >= len(w.in) {
				return false, errMalformed
			}
			switch w.in[w.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				w.i += 2
			case 'u':
				if len(w.in)-w.i < 6 {
					return false, errMalformed
				}
				if _, err := strconv.ParseUint(string(w.in[w.i+2:w.i+6]), 16, 16); err != nil {
					return false, errMalformed
				}
				w.i += 6
			default:
				return false, errMalformed
			}
		case c < 0x20:
			return false, errMalformed
		case c < utf8.RuneSelf:
			w.i++
		default:
			r, size := utf8.DecodeRune(w.in[w.i:])
			if r == utf8.RuneError && size <= 1 {
				return false, errMalformed
			}
			w.i += size
		}
	}
	return false, errMalformed
}

func (w *rewriter) scalar() error {
	start := w.i
	for w.i < len(w.in) {
		c := w.in[w.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		w.i++
	}
	if jsonx.Validate(w.in[start:w.i], 1) != nil {
		return errMalformed
	}
	return nil
}

// isBase64Payload reports whether raw is a long run of base64 characters:
// binary content, where detectors would only find noise.
func isBase64Payload(raw []byte) bool {
	if len(raw) < 64 {
		return false
	}
	for _, c := range raw {
		if !(isAlnum(c) || c == '+' || c == '/' || c == '=' || c == '\\') {
			return false
		}
	}
	return true
}
