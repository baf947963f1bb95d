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
	// data is set inside a value whose members are a tool's own data
	// (structuredContent, or the whole value when rewriteData started
	// there): "_meta" there has no protocol meaning and is scanned.
	data bool
	// numberKeys makes rewritten member names unique in their object by
	// a suffix (the second pass, when masking made two names equal).
	numberKeys  bool
	keysChanged bool
}

// rewriteStrings returns b with fn applied to every string value and
// member name, and whether anything changed (if not, b itself is
// returned). Values of "_meta" members are left alone (protocol metadata),
// except inside "structuredContent", which is the tool's own data; so are
// long base64 payloads under "data" and "blob" (image, audio and binary
// resource content), judged on their decoded text so that escapes cannot
// disguise text as base64. With data set, b is a tool's own data as a whole
// (arguments) and no "_meta" in it is left alone.
func rewriteStrings(b []byte, maybe func([]byte) bool, fn func(string) (string, bool), data bool) ([]byte, bool, error) {
	out, changed, keys, err := rewriteOnce(b, maybe, fn, data, false)
	if err != nil || !keys {
		return out, changed, err
	}
	// Masking can make two member names of an object equal, which no
	// reader of the message accepts (duplicate keys are refused): number
	// the rewritten names of such a value.
	if jsonx.Validate(out, maxWalkDepth+1) == nil {
		return out, changed, nil
	}
	out, changed, _, err = rewriteOnce(b, maybe, fn, data, true)
	if err != nil {
		return nil, false, err
	}
	if jsonx.Validate(out, maxWalkDepth+1) != nil {
		return nil, false, errMalformed
	}
	return out, changed, nil
}

func rewriteOnce(b []byte, maybe func([]byte) bool, fn func(string) (string, bool), data, numberKeys bool) ([]byte, bool, bool, error) {
	w := rewriter{in: b, fn: fn, maybe: maybe, data: data, numberKeys: numberKeys}
	w.ws()
	if err := w.value(""); err != nil {
		return nil, false, false, err
	}
	w.ws()
	if w.i != len(b) {
		return nil, false, false, errMalformed
	}
	if w.out == nil {
		return b, false, false, nil
	}
	w.out = append(w.out, b[w.last:]...)
	return w.out, true, w.keysChanged, nil
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
		binary := key == "data" || key == "blob"
		if !escaped && (binary && isBase64Payload(raw) || !w.maybe(raw)) {
			return nil
		}
		s, ok := jsonx.String(w.in[start:w.i])
		if !ok {
			return errMalformed
		}
		if escaped && binary && isBase64Payload(s) {
			// Judged on the decoded text: "\u0040" is an '@', not base64.
			return nil
		}
		repl, changed := w.fn(s)
		if changed {
			w.replace(start, repl, 0)
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
	n := 0 // member names rewritten so far
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
		var key string
		if escaped {
			key, _ = jsonx.String(w.in[ks:w.i])
		} else {
			key = string(w.in[ks+1 : w.i-1])
		}
		if escaped || w.maybe(w.in[ks+1:w.i-1]) {
			if repl, changed := w.fn(key); changed {
				w.keysChanged = true
				n++
				w.replace(ks, repl, n)
			}
		}
		w.ws()
		if w.i >= len(w.in) || w.in[w.i] != ':' {
			return errMalformed
		}
		w.i++
		w.ws()
		switch {
		case key == "_meta" && !w.data:
			if err := w.skipValue(); err != nil {
				return err
			}
		case key == "structuredContent" && !w.data:
			w.data = true
			err := w.value(key)
			w.data = false
			if err != nil {
				return err
			}
		default:
			if err := w.value(key); err != nil {
				return err
			}
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

// replace writes repl, quoted, for the string that starts at start and
// ends at w.i. A rewritten member name gets the suffix " (n)" in the
// numbering pass.
func (w *rewriter) replace(start int, repl string, n int) {
	if w.out == nil {
		w.out = make([]byte, 0, len(w.in)+16)
	}
	w.out = append(w.out, w.in[w.last:start]...)
	if n > 0 && w.numberKeys {
		repl += " (" + strconv.Itoa(n) + ")"
	}
	w.out = jsonx.AppendQuote(w.out, repl)
	w.last = w.i
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

// isBase64Payload reports whether s, a string's decoded text, is binary
// content in base64 (RFC 4648 section 4, padded), where detectors would
// only find noise: at least 64 characters, a multiple of four, only the
// base64 alphabet with at most two '=' at the end, and no run of eight or
// more digits (random base64 has one in about three megabytes; text that
// is only digits and letters, such as a card number glued between
// '+' signs, is scanned).
func isBase64Payload[T string | []byte](s T) bool {
	if len(s) < 64 || len(s)%4 != 0 {
		return false
	}
	end := len(s)
	for i := 0; i < 2 && s[end-1] == '='; i++ {
		end--
	}
	digits := 0
	for i := 0; i < end; i++ {
		c := s[i]
		switch {
		case isDigit(c):
			if digits++; digits >= 8 {
				return false
			}
			continue
		case isAlpha(c) || c == '+' || c == '/':
		default:
			return false
		}
		digits = 0
	}
	return true
}
