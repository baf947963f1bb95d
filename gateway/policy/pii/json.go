package pii

import (
	"errors"
	"strconv"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// maxWalkDepth bounds JSON nesting in values the policy rewrites.
const maxWalkDepth = 128

var errMalformed = errors.New("pii: malformed JSON")

// rewriter walks one JSON value with the gateway's JSON decoder
// (internal/jsonx, which validates every byte) and replaces string values
// in place. Only the bytes of changed strings are re-encoded; everything
// else, member names included, is copied as received.
type rewriter struct {
	d    *jsonx.Decoder
	in   []byte
	out  []byte
	last int // in[last:] is not yet copied to out
	fn   func(s string) (string, bool)
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
	w := rewriter{d: jsonx.NewDecoder(b, jsonx.Options{MaxDepth: maxWalkDepth}), in: b, fn: fn, maybe: maybe, data: data, numberKeys: numberKeys}
	k, err := w.d.Next()
	if err == nil {
		err = w.value(k, false)
	}
	if err == nil {
		_, err = w.d.Next() // only whitespace may follow
	}
	if err != nil {
		return nil, false, false, errMalformed
	}
	if w.out == nil {
		return b, false, false, nil
	}
	w.out = append(w.out, b[w.last:]...)
	return w.out, true, w.keysChanged, nil
}

// value walks the value whose first token, of kind k, was just read;
// binary says it is the value of a "data" or "blob" member.
func (w *rewriter) value(k jsonx.Kind, binary bool) error {
	switch k {
	case jsonx.KindObjectStart:
		return w.object()
	case jsonx.KindArrayStart:
		return w.array(binary)
	case jsonx.KindString:
		raw := w.d.Raw()
		escaped := w.d.Escaped()
		if !escaped && (binary && isBase64Payload(raw[1:len(raw)-1]) || !w.maybe(raw[1:len(raw)-1])) {
			return nil
		}
		s := w.d.Text()
		if escaped && binary && isBase64Payload(s) {
			// Judged on the decoded text: "\u0040" is an '@', not base64.
			return nil
		}
		if repl, changed := w.fn(s); changed {
			w.replace(repl, 0)
		}
	}
	return nil // other scalars: validated by the decoder, never rewritten
}

func (w *rewriter) object() error {
	n := 0 // member names rewritten so far
	for {
		k, err := w.d.Next()
		if err != nil {
			return err
		}
		if k == jsonx.KindObjectEnd {
			return nil
		}
		raw := w.d.Raw()
		if w.d.Escaped() || w.maybe(raw[1:len(raw)-1]) {
			if repl, changed := w.fn(w.d.Text()); changed {
				w.keysChanged = true
				n++
				w.replace(repl, n)
			}
		}
		if !w.data && w.d.TextIs("_meta") {
			if _, err := w.d.Skip(); err != nil {
				return err
			}
			continue
		}
		enter := !w.data && w.d.TextIs("structuredContent")
		binary := w.d.TextIs("data") || w.d.TextIs("blob")
		if k, err = w.d.Next(); err != nil {
			return err
		}
		w.data = w.data || enter
		err = w.value(k, binary)
		if enter {
			w.data = false
		}
		if err != nil {
			return err
		}
	}
}

func (w *rewriter) array(binary bool) error {
	for {
		k, err := w.d.Next()
		if err != nil {
			return err
		}
		if k == jsonx.KindArrayEnd {
			return nil
		}
		if err := w.value(k, binary); err != nil {
			return err
		}
	}
}

// replace writes repl, quoted, for the current token (a string or a
// member name). A rewritten member name gets the suffix " (n)" in the
// numbering pass.
func (w *rewriter) replace(repl string, n int) {
	if w.out == nil {
		w.out = make([]byte, 0, len(w.in)+16)
	}
	start := w.d.Offset()
	w.out = append(w.out, w.in[w.last:start]...)
	if n > 0 && w.numberKeys {
		repl += " (" + strconv.Itoa(n) + ")"
	}
	w.out = jsonx.AppendQuote(w.out, repl)
	w.last = start + len(w.d.Raw())
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
