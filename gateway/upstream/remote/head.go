package remote

import (
	"bufio"
	"bytes"
)

// plainHead is the head of an upstream's usual answer to a POST, read
// without http.ReadResponse: "HTTP/1.1 200", Content-Type exactly
// application/json or text/event-stream, one Content-Length, no
// Transfer-Encoding. It saves the response, its header map and the strings
// in it, and the body reader.
type plainHead struct {
	n             int    // bytes of the head, its blank line included
	contentLength int64  // the body's length
	stream        bool   // text/event-stream (else application/json)
	session       []byte // the Mcp-Session-Id value, if any (in the reader's buffer)
	close         bool   // Connection: close
}

// peekPlainHead looks at the head already in br's buffer, consuming
// nothing. ok is false unless the head is complete there and is exactly
// the simple case above, written the plainest way: one line per field, no
// continuation lines, visible ASCII and tabs only, each field the
// answer's framing or routing reads (Content-Length, Content-Type,
// Connection, Mcp-Session-Id) at most once, no Transfer-Encoding or
// Trailer. Anything else is left to http.ReadResponse, which reads the
// same bytes from the start and accepts or refuses them as it always has.
func peekPlainHead(br *bufio.Reader) (h plainHead, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return h, false
	}
	head := buf[:end+2] // every line with its CRLF
	line, rest, _ := bytes.Cut(head, crlf)
	// "HTTP/1.1 200" then the end of the line or a space and a reason
	// phrase, which nothing reads.
	if len(line) < 12 || string(line[:12]) != "HTTP/1.1 200" || (len(line) > 12 && line[12] != ' ') {
		return h, false
	}
	h.contentLength = -1
	var sawType, sawSession, sawConn bool
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return h, false // no name, or a continuation line
		}
		name, value := line[:colon], line[colon+1:]
		for _, c := range name {
			if c >= 0x80 || !tokenChar[c] {
				return h, false
			}
		}
		for _, c := range value {
			if (c < 0x20 && c != '\t') || c > 0x7e {
				return h, false
			}
		}
		value = bytes.TrimLeft(value, " \t")
		if len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
			return h, false
		}
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if h.contentLength >= 0 || len(value) == 0 || len(value) > 15 {
				return h, false
			}
			var n int64
			for _, c := range value {
				if c < '0' || c > '9' {
					return h, false
				}
				n = n*10 + int64(c-'0')
			}
			h.contentLength = n
		case asciiEqualFold(name, "Content-Type"):
			if sawType {
				return h, false
			}
			switch string(value) {
			case "application/json":
			case "text/event-stream":
				h.stream = true
			default:
				return h, false
			}
			sawType = true
		case asciiEqualFold(name, "Connection"):
			if sawConn {
				return h, false
			}
			sawConn = true
			switch {
			case asciiEqualFold(value, "close"):
				h.close = true
			case asciiEqualFold(value, "keep-alive"):
			default:
				return h, false
			}
		case asciiEqualFold(name, "Mcp-Session-Id"):
			if sawSession {
				return h, false
			}
			sawSession = true
			h.session = value
		case asciiEqualFold(name, "Transfer-Encoding"), asciiEqualFold(name, "Trailer"):
			return h, false
		}
	}
	if h.contentLength < 0 || !sawType {
		return h, false
	}
	h.n = end + 4
	return h, true
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// asciiEqualFold reports whether b and s are equal under ASCII case
// folding (s is a field name or token in its usual spelling).
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
