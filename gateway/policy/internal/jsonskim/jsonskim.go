package jsonskim

import "github.com/mcpfort/mcpfort/internal/jsonx"

func ws(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"'),
// and whether it holds an escape; -1 if it does not end.
func skipString(b []byte, i int) (int, bool) {
	escaped := false
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index after the value starting at b[i] (no
// leading whitespace), or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _ := skipString(b, i)
				if end < 0 {
					return -1
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// Member returns the value of the top-level member key of the object obj,
// as a slice of obj.
func Member(obj []byte, key string) ([]byte, bool) {
	i := ws(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	i = ws(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil, false
	}
	for i < len(obj) {
		if obj[i] != '"' {
			return nil, false
		}
		kstart := i
		kend, escaped := skipString(obj, i)
		if kend < 0 {
			return nil, false
		}
		i = ws(obj, kend)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		i = ws(obj, i+1)
		vstart := i
		vend := skipValue(obj, i)
		if vend < 0 {
			return nil, false
		}
		if keyIs(obj[kstart:kend], escaped, key) {
			return obj[vstart:vend], true
		}
		i = ws(obj, vend)
		if i >= len(obj) || obj[i] != ',' {
			return nil, false
		}
		i = ws(obj, i+1)
	}
	return nil, false
}

func keyIs(quoted []byte, escaped bool, key string) bool {
	if !escaped {
		return string(quoted[1:len(quoted)-1]) == key
	}
	s, ok := jsonx.String(quoted)
	return ok && s == key
}

// Elements calls fn with each element of the array arr, as slices of
// arr, until fn returns false. It reports false if arr is not an array it
// could read to the end.
func Elements(arr []byte, fn func(elem []byte) bool) bool {
	i := ws(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return false
	}
	i = ws(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return true
	}
	for i < len(arr) {
		end := skipValue(arr, i)
		if end < 0 {
			return false
		}
		if !fn(arr[i:end]) {
			return true
		}
		i = ws(arr, end)
		if i >= len(arr) {
			return false
		}
		switch arr[i] {
		case ',':
			i = ws(arr, i+1)
		case ']':
			return true
		default:
			return false
		}
	}
	return false
}

// String returns the value of the string member key of obj.
func String(obj []byte, key string) (string, bool) {
	v, ok := Member(obj, key)
	if !ok {
		return "", false
	}
	return jsonx.String(v)
}
