package jsonx

import (
	"bytes"
	"unicode/utf8"
)

// appendUnquoted appends the text of s, the inside of a string the decoder
// has validated, with its escapes decoded (RFC 8259 section 7). An escaped
// surrogate that is not half of a pair becomes U+FFFD, as encoding/json
// decodes it.
func appendUnquoted(dst, s []byte) []byte {
	for len(s) > 0 {
		j := bytes.IndexByte(s, '\\')
		if j < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:j]...)
		s = s[j:]
		c := s[1]
		switch c {
		case 'u':
			r, _ := hex4(s, 2)
			s = s[6:]
			if r >= 0xD800 && r <= 0xDFFF {
				lo, ok := rune(0), false
				if r < 0xDC00 && len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					lo, ok = hex4(s, 2)
				}
				if ok && lo >= 0xDC00 && lo <= 0xDFFF {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					s = s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		}
		dst = append(dst, c)
		s = s[2:]
	}
	return dst
}
