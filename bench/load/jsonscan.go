package load

import (
	"bytes"
	"encoding/json"
	"errors"
)

// message is what the verifier needs from one JSON-RPC 2.0 message
// (JSON-RPC 2.0 §4-5; MCP basic/index "Messages"). Byte slices alias the
// scanned input and hold raw JSON (strings keep their quotes).
type message struct {
	id      []byte // raw id value; nil when absent
	method  bool   // has "method": a request or a notification
	result  bool   // has "result"
	err     []byte // raw error object; nil when absent
	text    []byte // raw result.content[0].text string
	isError bool   // result.isError is true (MCP tools "Error Handling")
	version []byte // raw result.protocolVersion (an initialize result)
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 64

var errSyntax = errors.New("malformed JSON")

// scanMessage validates b as one JSON object (RFC 8259) and fills m with the
// members the verifier reads. It never decodes into Go values on the common
// path; member names containing escapes take a slow path through
// encoding/json, since RFC 8259 §7 makes "\u0069d" the same name as "id".
func scanMessage(b []byte, m *message) error {
	*m = message{}
	s := scanner{b: b}
	i := s.ws(0)
	if i >= len(b) || b[i] != '{' {
		return errSyntax
	}
	end, err := s.object(i, 0, func(key []byte, vs, ve int) error {
		switch {
		case keyIs(key, "id"):
			m.id = b[vs:ve]
		case keyIs(key, "method"):
			m.method = true
		case keyIs(key, "error"):
			m.err = b[vs:ve]
		case keyIs(key, "result"):
			// A repeated member replaces the earlier one (as encoding/json
			// decodes duplicates): forget what the earlier one said.
			m.result, m.text, m.isError, m.version = true, nil, false, nil
			if b[vs] == '{' {
				return s.result(vs, m)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.ws(end) != len(b) {
		return errSyntax
	}
	return nil
}

// result reads the members of a result object the verifier needs: the
// first content item's text, isError and protocolVersion.
func (s *scanner) result(i int, m *message) error {
	b := s.b
	_, err := s.object(i, 1, func(key []byte, vs, ve int) error {
		switch {
		case keyIs(key, "isError"):
			m.isError = ve-vs == 4 && string(b[vs:ve]) == "true"
		case keyIs(key, "protocolVersion"):
			m.version = nil
			if b[vs] == '"' {
				m.version = b[vs:ve]
			}
		case keyIs(key, "content"):
			m.text = nil
			if b[vs] != '[' {
				return nil
			}
			_, err := s.array(vs, 2, func(n, es, _ int) error {
				if n != 0 || b[es] != '{' {
					return nil
				}
				_, err := s.object(es, 3, func(key []byte, vs, ve int) error {
					if keyIs(key, "text") {
						m.text = nil
						if b[vs] == '"' {
							m.text = b[vs:ve]
						}
					}
					return nil
				})
				return err
			})
			return err
		}
		return nil
	})
	return err
}

// keyIs compares a raw member name (without quotes) to want, decoding
// escapes only when there are some.
func keyIs(raw []byte, want string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == want
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	return json.Unmarshal(q, &s) == nil && s == want
}

// stringIs reports whether raw, a JSON string with its quotes, holds want.
func stringIs(raw []byte, want string) bool {
	if len(raw) < 2 {
		return false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1:len(raw)-1]) == want
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == want
}

// unquote returns the value of raw, a JSON string with its quotes.
func unquote(raw []byte) string {
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// scanner is a validating RFC 8259 scanner over one buffer.
type scanner struct{ b []byte }

func (s *scanner) ws(i int) int {
	for i < len(s.b) {
		switch s.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value validates the value starting at i (no leading space) and returns
// the index just past it.
func (s *scanner) value(i, depth int) (int, error) {
	if i >= len(s.b) {
		return 0, errSyntax
	}
	switch c := s.b[i]; {
	case c == '{':
		return s.object(i, depth, nil)
	case c == '[':
		return s.array(i, depth, nil)
	case c == '"':
		return s.str(i)
	case c == 't':
		return s.lit(i, "true")
	case c == 'f':
		return s.lit(i, "false")
	case c == 'n':
		return s.lit(i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.num(i)
	}
	return 0, errSyntax
}

// object validates the object at i, calling fn (if not nil) with each
// member's raw name and value span.
func (s *scanner) object(i, depth int, fn func(key []byte, vs, ve int) error) (int, error) {
	if depth >= maxDepth {
		return 0, errSyntax
	}
	b := s.b
	i = s.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		ke, err := s.str(i)
		if err != nil {
			return 0, err
		}
		key := b[i+1 : ke-1]
		i = s.ws(ke)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		vs := s.ws(i + 1)
		ve, err := s.value(vs, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(key, vs, ve); err != nil {
				return 0, err
			}
		}
		i = s.ws(ve)
		if i >= len(b) {
			return 0, errSyntax
		}
		switch b[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1, nil
		default:
			return 0, errSyntax
		}
	}
}

// array validates the array at i, calling fn (if not nil) with each
// element's index and span.
func (s *scanner) array(i, depth int, fn func(n, vs, ve int) error) (int, error) {
	if depth >= maxDepth {
		return 0, errSyntax
	}
	b := s.b
	i = s.ws(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		ve, err := s.value(i, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(n, i, ve); err != nil {
				return 0, err
			}
		}
		i = s.ws(ve)
		if i >= len(b) {
			return 0, errSyntax
		}
		switch b[i] {
		case ',':
			i = s.ws(i + 1)
		case ']':
			return i + 1, nil
		default:
			return 0, errSyntax
		}
	}
}

// str validates the string at i (RFC 8259 §7) and returns the index past
// its closing quote.
func (s *scanner) str(i int) (int, error) {
	b := s.b
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return 0, errSyntax
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, errSyntax
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, errSyntax
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, errSyntax
					}
				}
				i += 4
			default:
				return 0, errSyntax
			}
		}
	}
	return 0, errSyntax
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num validates a number (RFC 8259 §6).
func (s *scanner) num(i int) (int, error) {
	b := s.b
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, errSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, errSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func (s *scanner) lit(i int, lit string) (int, error) {
	if len(s.b)-i < len(lit) || string(s.b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}
