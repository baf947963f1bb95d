package transport

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// SSEWriter writes Server-Sent Events to an HTTP response and flushes each
// event as soon as it is written: nothing is buffered past one event,
// unless Hold was called.
type SSEWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	buf     []byte
	started bool
	hold    bool
}

// Hold makes the writer flush nothing, neither the headers nor an event:
// for a stream whose events are all at hand, written by a handler that
// returns right after the last, net/http then sends the whole response in
// one write (or a write per filled buffer) instead of one per event.
func (s *SSEWriter) Hold() { s.hold = true }

// NewSSEWriter returns a writer for w. Headers are sent with the first event
// (or by Start).
func NewSSEWriter(w http.ResponseWriter) *SSEWriter {
	return &SSEWriter{w: w, rc: http.NewResponseController(w)}
}

// Start sends the response headers for an event stream with the given status
// (200 when zero). X-Accel-Buffering: no keeps reverse proxies from holding
// events back (2026-07-28 streamable-http "Receiving Messages").
func (s *SSEWriter) Start(status int) error {
	if s.started {
		return nil
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	if status == 0 {
		status = http.StatusOK
	}
	s.w.WriteHeader(status)
	return s.flush()
}

func (s *SSEWriter) flush() error {
	if s.hold {
		return nil
	}
	return s.rc.Flush()
}

// Started reports whether headers have been sent.
func (s *SSEWriter) Started() bool { return s.started }

// ErrUnsafeField reports an event id the writer refuses to put on a line:
// one holding a CR, LF or NUL, which a client would read as a line end (a
// second, forged field or event) or ignore (WHATWG HTML 9.2.6: "If the
// field value does not contain U+0000 NULL"). Nothing is written.
var ErrUnsafeField = errors.New("sse: event id holds a CR, LF or NUL")

// Event writes one "message" event in canonical form: an "id:" line when id
// is not empty, one "data:" line per line of data, and a blank line, every
// line ending in LF. data is split at every CR, LF and CRLF, the line ends
// a client recognises (WHATWG HTML 9.2.6 "Interpreting an event stream"),
// so that no byte of data can end a field early: a client reads back data
// with each of its line ends turned into one LF (for JSON, where a raw CR
// or LF can only be whitespace, the same message). An id holding a CR, LF
// or NUL is refused with ErrUnsafeField.
func (s *SSEWriter) Event(id string, data []byte) error {
	if err := s.write(id, data); err != nil {
		return err
	}
	return s.flush()
}

// Last writes the stream's final event as Event does but does not flush
// it: the caller returns from its handler right after, and net/http then
// sends the event together with the end of the response, in one write
// instead of two.
func (s *SSEWriter) Last(id string, data []byte) error { return s.write(id, data) }

func (s *SSEWriter) write(id string, data []byte) error {
	if !safeID(id) {
		return ErrUnsafeField
	}
	if !s.started {
		if err := s.Start(0); err != nil {
			return err
		}
	}
	b := s.buf[:0]
	if id != "" {
		b = append(b, "id: "...)
		b = append(b, id...)
		b = append(b, '\n')
	}
	b = appendData(b, data)
	b = append(b, '\n')
	s.buf = b
	_, err := s.w.Write(b)
	return err
}

// appendData appends data as "data:" lines: one per line of data, split at
// LF and, when data holds a CR, also at CR and CRLF. Data without any line
// end is one line; empty data is one empty line (the event still carries
// data, the empty string).
func appendData(b, data []byte) []byte {
	cr := bytes.IndexByte(data, '\r') >= 0
	for {
		i := bytes.IndexByte(data, '\n')
		if cr {
			end := len(data)
			if i >= 0 {
				end = i
			}
			if j := bytes.IndexByte(data[:end], '\r'); j >= 0 {
				i = j
			}
		}
		b = append(b, "data: "...)
		if i < 0 {
			b = append(b, data...)
			return append(b, '\n')
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

// safeID reports whether id can go on an "id:" line: no CR or LF (which
// would end the line and start a field of the sender's choosing) and no NUL
// (which makes a client ignore the field).
func safeID(id string) bool {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// ValidEventID reports whether an event id received from elsewhere (an
// upstream's id field, a client's Last-Event-ID header) is one the gateway
// passes on: at most MaxEventIDLength bytes of printable ASCII (U+0020 to
// U+007E). Such an id survives every hop unchanged: an SSE "id:" line
// (WHATWG HTML 9.2.6), UTF-8 decoding, and an HTTP header field value
// (RFC 9110 section 5.5).
func ValidEventID(id string) bool {
	if len(id) > MaxEventIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// MaxEventIDLength bounds an event id the gateway relays.
const MaxEventIDLength = 256

// Retry tells the client how long to wait before reconnecting; servers send
// it before closing a stream they expect the client to resume (2025-11-25
// transports: "the server SHOULD send an SSE event with a standard retry
// field before closing the connection").
func (s *SSEWriter) Retry(d time.Duration) error {
	if !s.started {
		if err := s.Start(0); err != nil {
			return err
		}
	}
	b := append(s.buf[:0], "retry: "...)
	b = strconv.AppendInt(b, max(d.Milliseconds(), 0), 10) // digits only, or a client ignores it
	b = append(b, "\n\n"...)
	s.buf = b
	_, err := s.w.Write(b)
	return err
}

// RetryMillis is Retry with a value in milliseconds.
func (s *SSEWriter) RetryMillis(ms int) error { return s.Retry(time.Duration(ms) * time.Millisecond) }

// Comment writes a comment line, used as a keep-alive on long streams.
func (s *SSEWriter) Comment() error {
	if !s.started {
		if err := s.Start(0); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(s.w, ":\n\n"); err != nil {
		return err
	}
	return s.flush()
}

// Event is one Server-Sent Event as SSEReader dispatches it.
type Event struct {
	// ID is the value of the event's last "id" field (WHATWG HTML 9.2.6:
	// one holding a NUL is ignored); HasID reports that there was one,
	// possibly empty. A client's last event ID persists across events, so
	// a relay that forwards each id where it appeared leaves its client
	// with the same last event ID as the sender's.
	ID    string
	HasID bool
	// Name is the event type ("event" field); "" means "message".
	Name string
	// Data is the data buffer without its final LF: the "data" fields'
	// values joined by LF. It is nil when the event had no data field,
	// in which case a client dispatches no event at all.
	Data []byte
	// Retry is the reconnection time in milliseconds from a "retry" field
	// of ASCII digits only; 0 when absent (or zero, or beyond an int32).
	Retry int
}

// ErrEventTooLarge reports an event longer than the reader's limit.
var ErrEventTooLarge = errors.New("sse: event too large")

// SSEReader parses an event stream incrementally, exactly as a client does
// (WHATWG HTML "Server-sent events", 9.2.5 "Parsing an event stream" and
// 9.2.6 "Interpreting an event stream",
// https://html.spec.whatwg.org/multipage/server-sent-events.html):
//
//   - one U+FEFF BYTE ORDER MARK at the start of the stream is skipped (the
//     UTF-8 decode algorithm strips it); anywhere else it is data;
//   - lines end at CRLF, at a lone LF and at a lone CR;
//   - a line starting with ":" is a comment;
//   - a field's name is everything before the line's first ":", its value
//     everything after it, less one leading U+0020 SPACE; a line without a
//     ":" is a field named by the whole line with an empty value;
//   - "data" appends its value and an LF to the data buffer, "event" sets
//     the type, "id" the id unless the value holds a NUL, "retry" the
//     reconnection time if the value is ASCII digits only; other fields
//     are ignored;
//   - a blank line dispatches the event; a stream that ends before the
//     blank line that ends an event never dispatches it.
//
// It works on bytes, not decoded text: CR, LF, ":", " " and NUL are ASCII,
// and the UTF-8 decoder never folds an ASCII byte into a replacement
// character, so lines and fields split where a client splits them; only
// values with invalid UTF-8 differ (a client sees U+FFFD), which is why a
// relay validates what it forwards (JSON for data, ValidEventID for ids).
//
// It never holds more than one event (bounded by max bytes) in memory, and
// between events, when its source is a ReadyReader, no buffer at all: a
// stream that waits for its next event costs only the reader itself.
type SSEReader struct {
	src   io.Reader
	ready ReadyReader // src, when it can wait for input holding no buffer
	// buf[r:w] is what was read and not yet parsed. buf comes from
	// sseBuffers; while src is a ReadyReader it goes back there whenever
	// it is empty and more must be read.
	buf     []byte
	r, w    int
	err     error // from src, returned once what was read before it is parsed
	max     int
	started bool // the byte order mark check is done
	skipLF  bool // the last line ended in CR: an LF right after it belongs to it
}

// ReadyReader is a reader that can wait for input holding no buffer (an
// upstream connection's event stream): ReadReady reads as Read does, into
// a buffer it takes with get only once bytes are ready to be read, or the
// end of the input or an error is. A buffer it took and read nothing into
// it may give back with put. It returns the buffer it read into, nil if
// it took none.
type ReadyReader interface {
	io.Reader
	ReadReady(get func() []byte, put func([]byte)) (buf []byte, n int, err error)
}

// sseBufferSize is the size of an SSEReader's read buffer. A longer line is
// gathered outside it.
const sseBufferSize = 2 << 10

var sseBuffers = sync.Pool{New: func() any { return new([sseBufferSize]byte) }}

func getSSEBuffer() []byte { return sseBuffers.Get().(*[sseBufferSize]byte)[:] }

func putSSEBuffer(b []byte) {
	if cap(b) == sseBufferSize {
		sseBuffers.Put((*[sseBufferSize]byte)(b[:sseBufferSize]))
	}
}

// NewSSEReader returns a reader of r whose events may be at most max bytes
// (4 MiB if max <= 0).
func NewSSEReader(r io.Reader, max int) *SSEReader {
	if max <= 0 {
		max = 4 << 20
	}
	s := &SSEReader{src: r, max: max}
	s.ready, _ = r.(ReadyReader)
	return s
}

// Next returns the next dispatched event that carries data, an id or a
// retry hint; blank lines that end nothing are skipped. An event without
// data (Data nil) is returned for its id or retry hint: a client dispatches
// no event for it but keeps the id as its last event ID. Next returns
// io.EOF at the end of the stream; a stream ending inside an event drops
// that event, as a client does.
func (s *SSEReader) Next() (*Event, error) {
	if !s.started {
		s.started = true
		if err := s.skipBOM(); err != nil {
			return nil, err
		}
	}
	var ev Event
	size := 0
	have := false
	for {
		line, err := s.readLine(s.max - size)
		if err != nil {
			return nil, err
		}
		size += len(line) // readLine keeps it within max
		if len(line) == 0 {
			if have {
				s.release()
				return &ev, nil
			}
			ev = Event{}
			size = 0
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if ev.Data != nil {
				ev.Data = append(ev.Data, '\n')
			} else {
				ev.Data = make([]byte, 0, len(value))
			}
			ev.Data = append(ev.Data, value...)
			have = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				if !ev.HasID || ev.ID != string(value) {
					ev.ID = string(value)
				}
				ev.HasID = true
				have = true
			}
		case "event":
			if string(value) == "message" {
				ev.Name = "message"
			} else {
				ev.Name = string(value)
			}
		case "retry":
			if n, ok := parseDigits(value); ok {
				ev.Retry = n
				have = true
			}
		}
	}
}

// parseDigits parses a "retry" value: ASCII digits only, nothing else, not
// even a sign or a space (WHATWG HTML 9.2.6). Values beyond an int32 are
// refused.
func parseDigits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 1<<31-1 {
		return 0, false
	}
	return n, true
}

// fill reads more of the stream into the buffer, which must not be full.
// When nothing is buffered and the source is a ReadyReader, the buffer is
// given back first and the wait for input holds none.
func (s *SSEReader) fill() error {
	if s.err != nil {
		return s.err
	}
	if s.r == s.w {
		s.r, s.w = 0, 0
		if s.ready != nil {
			if s.buf != nil {
				putSSEBuffer(s.buf)
				s.buf = nil
			}
			for range 100 {
				b, n, err := s.ready.ReadReady(getSSEBuffer, putSSEBuffer)
				if (b != nil || n > 0) && (len(b) != sseBufferSize || n > len(b)) {
					return errors.New("sse: source read into a short buffer")
				}
				if n > 0 {
					s.buf, s.w = b, n
					s.err = err
					return nil
				}
				if b != nil {
					putSSEBuffer(b)
				}
				if err != nil {
					s.err = err
					return err
				}
			}
			return io.ErrNoProgress
		}
		if s.buf == nil {
			s.buf = getSSEBuffer()
		}
	} else if s.r > 0 {
		// Slide what is buffered to the front rather than growing.
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	for range 100 {
		n, err := s.src.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// release gives the buffer back when it holds nothing and will not be read
// into before it is given back anyway: the source is a ReadyReader, or it
// ended. An event stream that ends with its last event (an answer to a
// POST) then leaves its buffer to the next reply, though its reader is
// never called again. Nothing returned aliases the buffer: events are
// copies.
func (s *SSEReader) release() {
	if s.r == s.w && s.buf != nil && (s.ready != nil || s.err != nil) {
		putSSEBuffer(s.buf)
		s.buf = nil
		s.r, s.w = 0, 0
	}
}

// peek returns at least n buffered bytes (n at most the buffer's size), or
// fewer and the error that stopped it.
func (s *SSEReader) peek(n int) ([]byte, error) {
	for s.w-s.r < n {
		if err := s.fill(); err != nil {
			return s.buf[s.r:s.w], err
		}
	}
	return s.buf[s.r:s.w], nil
}

// skipBOM drops one UTF-8 byte order mark at the very start of the stream.
// It waits for three bytes only when the first is the mark's first byte.
func (s *SSEReader) skipBOM() error {
	b, err := s.peek(1)
	if err != nil || b[0] != 0xEF {
		return nil // errors surface on the first read
	}
	if b, err = s.peek(3); err == nil && b[1] == 0xBB && b[2] == 0xBF {
		s.r += 3
	}
	return nil
}

// readLine reads one line ended by CRLF, LF or CR, and returns it without
// its end. The line may alias the reader's buffer: it is valid until the
// next read. A line longer than limit fails with ErrEventTooLarge; a last
// line without its end is not a line (io.EOF).
func (s *SSEReader) readLine(limit int) ([]byte, error) {
	if s.skipLF {
		s.skipLF = false
		if b, err := s.peek(1); err == nil && b[0] == '\n' {
			s.r++
		}
	}
	var line []byte // the start of a line longer than the buffer
	scanned := 0    // buffered bytes known to hold no line end
	for {
		if s.w-s.r <= scanned {
			if scanned > 0 && scanned == len(s.buf) {
				// A full buffer without a line end: keep it aside.
				line = append(line, s.buf[s.r:s.w]...)
				s.r = s.w
				scanned = 0
			}
			// Wait for more bytes.
			if err := s.fill(); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					err = io.EOF
				}
				return nil, err // a last line without its end is dropped
			}
		}
		buf := s.buf[s.r:s.w]
		i := bytes.IndexByte(buf[scanned:], '\n')
		end := len(buf)
		if i >= 0 {
			i += scanned
			end = i
		}
		if j := bytes.IndexByte(buf[scanned:end], '\r'); j >= 0 {
			i = scanned + j
		}
		if i < 0 {
			if len(line)+len(buf) > limit {
				return nil, ErrEventTooLarge
			}
			scanned = len(buf)
			continue
		}
		if len(line)+i > limit {
			return nil, ErrEventTooLarge
		}
		if line == nil {
			line = buf[:i:i]
		} else {
			line = append(line, buf[:i]...)
		}
		n := i + 1
		if buf[i] == '\r' {
			if i+1 < len(buf) {
				if buf[i+1] == '\n' {
					n++
				}
			} else {
				s.skipLF = true // the LF, if any, is not read yet
			}
		}
		s.r += n
		return line, nil
	}
}
