// Package textcut shortens text that came from outside (a client's tool
// name, an upstream's description) before it is logged, recorded or put on
// a span: at most a given number of bytes, cut at a character boundary so
// that valid UTF-8 stays valid, and marked as cut.
package textcut

import "unicode/utf8"

// Mark ends a string that Cut shortened.
const Mark = "…"

// Cut returns s when it is at most n bytes long, and otherwise its first n
// bytes or fewer, ending at a character boundary, followed by Mark. The
// result is then at most n+len(Mark) bytes.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Mark
}
