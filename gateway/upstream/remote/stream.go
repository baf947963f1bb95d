package remote

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"sync"
)

// streamBody reads an event stream's response body straight from the
// connection, in place of net/http's body reader over the connection's
// bufio.Reader: it holds no buffer of its own, so that a stream waiting for
// its next event (a legacy GET, for hours) holds none either. Bytes are
// read into the caller's buffer and the chunked framing (RFC 9112 section
// 7.1) is taken out in place; ReadReady (transport.ReadyReader) waits for
// input before taking a buffer at all, where the connection allows it.
//
// It is as strict as net/http's chunked reader over the connection's 2 KiB
// reader was: CRLF line ends only, chunk lines of at most 2 KiB with their
// CRLF, at most 16 hex digits, the same bound on framing overhead; the
// trailer section, which it reads and discards, is bounded by the same
// 2 KiB, its lines must end in CRLF and be "name: value" fields.
type streamBody struct {
	c rawReader // reads the connection
	// br is the connection's reader while it holds bytes of the body read
	// with the response head; it goes back to readers once they are read.
	br     *bufio.Reader
	mode   uint8 // bodyChunked, bodyLength, bodyClose
	length int64 // bodyLength: bytes left

	// The chunked decoder's state.
	st      uint8
	n       uint64 // bytes left in the chunk (stData), or the size read so far
	digits  int    // hex digits of the chunk size
	line    int    // bytes of the chunk line or of the trailer section
	excess  int64  // framing overhead beyond what the data allows
	err     error  // sticky: the body ended (io.EOF) or failed
	trailer bool   // the trailer line read so far is not empty
	colon   bool   // and holds a colon
	// extra: bytes beyond the body's end were read (or were buffered):
	// they belong to nothing, so the connection is not reused.
	extra bool
}

const (
	bodyChunked = iota
	bodyLength
	bodyClose
)

// Chunked decoder states.
const (
	stSize      = iota // chunk size digits
	stSizeWS           // whitespace after the size
	stExt              // chunk extension, discarded
	stLineLF           // the LF of a chunk line
	stData             // chunk data
	stDataCR           // the CR after chunk data
	stDataLF           // the LF after chunk data
	stTrailer          // a trailer line
	stTrailerLF        // the LF of a trailer line
	stDone             // after the trailer section
)

const (
	// The connection reader's size, which bounded a chunk line (with its
	// CRLF) and the trailer section before.
	maxChunkLine = 2 << 10
	maxTrailer   = 2 << 10
	maxExcess    = 16 << 10
)

var (
	errChunkFormat  = errors.New("remote: malformed chunked encoding")
	errChunkLine    = errors.New("remote: chunk line too long")
	errChunkExcess  = errors.New("remote: chunked encoding contains too much non-data")
	errTrailerLarge = errors.New("remote: trailer section too long")
)

// readers holds the connections' response-head readers: a connection
// whose response is an event stream gives its reader back once the head is
// read, and takes one again for its next request.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2048) }}

// eventStream reports whether resp's body is an event stream, which
// streamBody reads.
func eventStream(resp *http.Response) bool {
	return resp.StatusCode == http.StatusOK && resp.Body != http.NoBody &&
		mediaType(first(resp.Header["Content-Type"])) == "text/event-stream"
}

// newStreamBody takes resp's body off the connection's reader, which it
// releases. It returns nil when the framing is not one it reads.
func newStreamBody(pc *h1conn, resp *http.Response) *streamBody {
	b := &streamBody{}
	switch {
	case len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked":
		b.mode = bodyChunked
	case len(resp.TransferEncoding) == 0 && resp.ContentLength >= 0:
		b.mode, b.length = bodyLength, resp.ContentLength
	case len(resp.TransferEncoding) == 0 && resp.Close:
		b.mode = bodyClose
	default:
		return nil
	}
	b.br, pc.br = pc.br, nil
	b.drained()
	b.c.init(pc.c)
	if b.mode == bodyLength && b.length == 0 {
		b.err = io.EOF
		b.extra = b.br != nil
	}
	return b
}

// drained gives the connection's reader back once it holds nothing more.
func (b *streamBody) drained() {
	if b.br != nil && b.br.Buffered() == 0 {
		b.br.Reset(nil)
		readers.Put(b.br)
		b.br = nil
	}
}

// reusable reports whether the connection may carry another request once
// the body ended.
func (b *streamBody) reusable() bool {
	return b.err == io.EOF && !b.extra && b.mode != bodyClose
}

func (b *streamBody) Read(p []byte) (int, error) {
	for {
		if b.err != nil {
			return 0, b.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		q := p
		if b.mode == bodyLength && int64(len(q)) > b.length {
			q = q[:b.length]
		}
		var n int
		var err error
		if b.br != nil {
			n, _ = b.br.Read(q) // from what it holds: never reads the connection
			b.drained()
		} else {
			n, err = b.c.Read(q)
		}
		m := b.take(p[:n], err)
		if m > 0 || b.err != nil {
			return m, b.err
		}
	}
}

// ReadReady implements transport.ReadyReader.
func (b *streamBody) ReadReady(get func() []byte, put func([]byte)) ([]byte, int, error) {
	for {
		if b.err != nil {
			return nil, 0, b.err
		}
		if b.br != nil {
			return readTaking(b, get, -1)
		}
		limit := -1
		if b.mode == bodyLength && b.length < 1<<30 {
			limit = int(b.length)
		}
		p, n, err := b.c.ReadReady(get, put, limit)
		m := b.take(p[:n], err)
		if m > 0 || b.err != nil {
			return p, m, b.err
		}
		if p != nil {
			put(p)
		}
	}
}

// take decodes the n bytes just read into p, in place, and notes err; it
// returns how many body bytes p now starts with. An error or the end is
// kept in b.err and returned with those bytes: the end of a body read in
// the same read as its last bytes releases the connection at once (as
// net/http's body reader does), so that a caller that stops at its last
// event still leaves the connection reusable.
func (b *streamBody) take(p []byte, err error) int {
	m := len(p)
	switch b.mode {
	case bodyLength:
		b.length -= int64(m)
		if b.length == 0 {
			b.err = io.EOF
			b.extra = b.br != nil
		} else if err == io.EOF {
			b.err = io.ErrUnexpectedEOF
		}
	case bodyClose:
	case bodyChunked:
		m = b.dechunk(p)
		if err == io.EOF && b.err == nil {
			b.err = io.ErrUnexpectedEOF
		}
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	return m
}

// dechunk takes the chunked framing out of p, moving data to its front,
// and returns the data's length.
func (b *streamBody) dechunk(p []byte) int {
	out := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch b.st {
		case stData:
			k := uint64(len(p) - i)
			if k > b.n {
				k = b.n
			}
			out += copy(p[out:], p[i:i+int(k)])
			i += int(k) - 1
			if b.n -= k; b.n == 0 {
				b.st = stDataCR
			}
			continue
		case stDataCR:
			if c != '\r' {
				return b.fail(out, errChunkFormat)
			}
			b.st = stDataLF
			continue
		case stDataLF:
			if c != '\n' {
				return b.fail(out, errChunkFormat)
			}
			b.st, b.n, b.digits, b.line = stSize, 0, 0, 0
			continue
		case stTrailer, stTrailerLF:
			if b.line++; b.line > maxTrailer {
				return b.fail(out, errTrailerLarge)
			}
			if b.st == stTrailerLF {
				if c != '\n' {
					return b.fail(out, errChunkFormat)
				}
				if !b.trailer {
					b.st = stDone
					b.err = io.EOF
					b.extra = i+1 < len(p) || b.br != nil
					return out
				}
				b.trailer, b.colon = false, false
				b.st = stTrailer
				continue
			}
			// A field line, "name: value", or the empty line that ends
			// the section; the fields are discarded.
			switch {
			case c == '\r':
				if b.trailer && !b.colon {
					return b.fail(out, errChunkFormat)
				}
				b.st = stTrailerLF
			case c == '\n':
				return b.fail(out, errChunkFormat) // bare LF
			case !b.trailer && (c == ' ' || c == '\t' || c == ':'):
				return b.fail(out, errChunkFormat) // no name, or obsolete line folding
			case !b.colon && c != ':' && (c >= 0x80 || !tokenChar[c]):
				// The name is a token (RFC 9110 section 5.1), as net/http
				// requires: no space before the colon, no other byte.
				return b.fail(out, errChunkFormat)
			case b.colon && (c < ' ' && c != '\t' || c == 0x7f):
				// A value holds no control but HTAB (section 5.5).
				return b.fail(out, errChunkFormat)
			default:
				b.trailer = true
				b.colon = b.colon || c == ':'
			}
			continue
		}
		// A chunk line: size, optional whitespace or extension, CRLF.
		if b.line++; b.line > maxChunkLine {
			return b.fail(out, errChunkLine)
		}
		switch b.st {
		case stSize:
			switch {
			case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
				if b.digits == 16 {
					return b.fail(out, errChunkFormat)
				}
				b.digits++
				b.n = b.n<<4 | uint64(hexVal(c))
			case b.digits == 0:
				return b.fail(out, errChunkFormat)
			case c == ';':
				b.st = stExt
			case c == ' ' || c == '\t':
				b.st = stSizeWS
			case c == '\r':
				b.st = stLineLF
			default:
				return b.fail(out, errChunkFormat)
			}
		case stSizeWS:
			switch c {
			case ' ', '\t':
			case '\r':
				b.st = stLineLF
			default:
				return b.fail(out, errChunkFormat)
			}
		case stExt:
			switch c {
			case '\r':
				b.st = stLineLF
			case '\n':
				return b.fail(out, errChunkFormat) // bare LF
			}
		case stLineLF:
			if c != '\n' {
				return b.fail(out, errChunkFormat)
			}
			// net/http's accounting: the line and the CRLF after the
			// data, less 16 bytes per chunk and twice its data.
			b.excess += int64(b.line) - 2 + 2
			b.excess = max(b.excess-16-2*int64(min(b.n, 1<<40)), 0)
			if b.excess > maxExcess {
				return b.fail(out, errChunkExcess)
			}
			if b.n == 0 {
				b.st, b.line, b.trailer = stTrailer, 0, false
			} else {
				b.st = stData
			}
		}
	}
	return out
}

// Close implements io.Closer: the connection is h1body's to close.
func (b *streamBody) Close() error { return nil }

func (b *streamBody) fail(out int, err error) int {
	b.err = err
	return out
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// readTaking reads from r into a buffer taken from get before waiting, at
// most limit bytes (all it can if limit < 0): the way of readers whose
// readiness cannot be waited for without a buffer (TLS, no raw
// connection, bytes already buffered).
func readTaking(r io.Reader, get func() []byte, limit int) ([]byte, int, error) {
	p := get()
	q := p
	if limit >= 0 && limit < len(q) {
		q = q[:limit]
	}
	n, err := r.Read(q)
	return p, n, err
}
