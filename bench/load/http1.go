package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// response is one HTTP/1.1 response. Its slices are owned by the response
// and reused by the next read into it.
type response struct {
	status      int
	contentType []byte
	sessionID   []byte
	body        []byte
	// close reports that the connection cannot carry another request:
	// "Connection: close", HTTP/1.0, or a body delimited by the close.
	close bool
	// bodyless is set when the body was left on the wire (head).
	bodyless bool
	hs       headerState
}

// Limits on what a response may make the reader hold.
const (
	maxHeaderLines = 256
	// DefaultMaxBody bounds a response body when Options leave it zero.
	DefaultMaxBody = 16 << 20
)

var (
	errHeaderTooLong = errors.New("response header line too long")
	errTooManyLines  = errors.New("too many response header lines")
	errBodyTooLarge  = errors.New("response body too large")
	errBadStatus     = errors.New("malformed status line")
	errBadHeader     = errors.New("malformed header line")
	errBadLength     = errors.New("malformed Content-Length")
	errBadChunk      = errors.New("malformed chunked body")
	errBadEncoding   = errors.New("unsupported Transfer-Encoding")
)

// readResponse reads one response (RFC 9112 §4 status line, §5 fields, §6
// message body length) into r. With head set it stops after the header
// section, leaving the body on the wire (a held SSE stream). 1xx interim
// responses are skipped. Only "chunked" transfer coding is understood.
func readResponse(br *bufio.Reader, r *response, maxBody int, head bool) error {
	for {
		if err := readHeader(br, r); err != nil {
			return err
		}
		if r.status >= 200 {
			break
		}
		if r.status == 101 {
			return errBadStatus // no upgrade was asked for
		}
	}
	r.body = r.body[:0]
	if head {
		r.bodyless = true
		return nil
	}
	if r.status == 204 || r.status == 304 {
		return nil
	}
	switch {
	case r.chunked():
		return readChunked(br, r, maxBody)
	case r.hs.length >= 0:
		if r.hs.length > int64(maxBody) {
			return errBodyTooLarge
		}
		r.body = grow(r.body, int(r.hs.length))
		_, err := io.ReadFull(br, r.body)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	// RFC 9112 §6.3 item 8: the body runs until the server closes.
	r.close = true
	for {
		if len(r.body) == cap(r.body) {
			if len(r.body) >= maxBody {
				return errBodyTooLarge
			}
			r.body = append(r.body, 0)[:len(r.body)]
		}
		n, err := br.Read(r.body[len(r.body):cap(r.body)])
		r.body = r.body[:len(r.body)+n]
		if len(r.body) > maxBody {
			return errBodyTooLarge
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// headerState is what readHeader leaves for the body readers.
type headerState struct {
	length  int64 // -1: none
	te      int   // 0 none, 1 chunked
	version byte  // minor version
}

func (r *response) chunked() bool { return r.hs.te == 1 }

func readHeader(br *bufio.Reader, r *response) error {
	r.status, r.close, r.bodyless = 0, false, false
	r.contentType, r.sessionID = r.contentType[:0], r.sessionID[:0]
	r.hs = headerState{length: -1}
	line, err := readLine(br)
	if err != nil {
		return err // io.EOF here: the server closed an idle connection
	}
	// status-line = HTTP-version SP status-code SP [ reason-phrase ]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: %q", errBadStatus, truncate(line))
	}
	r.hs.version = line[7] - '0'
	r.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if r.status < 100 {
		return errBadStatus
	}
	keepAlive := false
	for n := 0; ; n++ {
		if n == maxHeaderLines {
			return errTooManyLines
		}
		line, err := readLine(br)
		if err != nil {
			return unexpected(err)
		}
		if len(line) == 0 {
			break
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 || bytes.ContainsAny(line[:c], " \t") {
			return fmt.Errorf("%w: %q", errBadHeader, truncate(line))
		}
		name, value := line[:c], bytes.Trim(line[c+1:], " \t")
		switch {
		case asciiEqualFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok || (r.hs.length >= 0 && r.hs.length != n) {
				return errBadLength
			}
			r.hs.length = n
		case asciiEqualFold(name, "transfer-encoding"):
			if !asciiEqualFold(value, "chunked") || r.hs.te != 0 {
				return fmt.Errorf("%w: %q", errBadEncoding, truncate(value))
			}
			r.hs.te = 1
		case asciiEqualFold(name, "content-type"):
			r.contentType = append(r.contentType[:0], value...)
		case asciiEqualFold(name, "mcp-session-id"):
			r.sessionID = append(r.sessionID[:0], value...)
		case asciiEqualFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				if asciiEqualFold(tok, "close") {
					r.close = true
				} else if asciiEqualFold(tok, "keep-alive") {
					keepAlive = true
				}
			}
		}
	}
	if r.hs.version == 0 && r.hs.te != 0 {
		// RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means
		// faulty framing.
		return fmt.Errorf("%w: in an HTTP/1.0 response", errBadEncoding)
	}
	if r.hs.version == 0 && !keepAlive {
		r.close = true
	}
	if r.hs.te == 1 && r.hs.length >= 0 {
		// RFC 9112 §6.3 item 3: Transfer-Encoding overrides Content-Length,
		// and such a message ought to be handled as an error: do not reuse
		// the connection.
		r.hs.length = -1
		r.close = true
	}
	return nil
}

// readChunked reads a chunked body (RFC 9112 §7.1), discarding extensions
// and trailers.
func readChunked(br *bufio.Reader, r *response, maxBody int) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return unexpected(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimRight(line, " \t")
		if len(line) == 0 || len(line) > 8 {
			return errBadChunk
		}
		size := 0
		for _, c := range line {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				return errBadChunk
			}
			size = size<<4 | int(d)
		}
		if size == 0 {
			break
		}
		if size > maxBody-len(r.body) {
			return errBodyTooLarge
		}
		n := len(r.body)
		r.body = grow(r.body, n+size)
		if _, err := io.ReadFull(br, r.body[n:]); err != nil {
			return unexpected(err)
		}
		if crlf, err := readLine(br); err != nil || len(crlf) != 0 {
			return errBadChunk
		}
	}
	for n := 0; ; n++ {
		if n == maxHeaderLines {
			return errTooManyLines
		}
		line, err := readLine(br)
		if err != nil {
			return unexpected(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readLine returns one line without its CRLF (or bare LF), aliasing br's
// buffer: it is valid until the next read. It returns io.EOF only when the
// stream ended before the line's first byte.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errHeaderTooLong
	}
	if err != nil {
		if len(line) > 0 {
			return nil, unexpected(err)
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLength parses a Content-Length value: 1*DIGIT, at most 15 digits.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// grow returns b with length n, reusing its storage when it can.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, n+n/4)
	copy(nb, b)
	return nb
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
