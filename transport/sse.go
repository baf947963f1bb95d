package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// SSEWriter writes Server-Sent Events to an HTTP response and flushes each
// event as soon as it is written: nothing is buffered past one event.
type SSEWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	buf     []byte
	started bool
}

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
	return s.rc.Flush()
}

// Started reports whether headers have been sent.
func (s *SSEWriter) Started() bool { return s.started }

// Event writes one "message" event. id may be empty. data must not contain
// a bare carriage return; newlines are split into several data lines as the
// format requires.
func (s *SSEWriter) Event(id string, data []byte) error {
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
	if len(data) == 0 {
		b = append(b, "data: \n"...)
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

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
	b = strconv.AppendInt(b, d.Milliseconds(), 10)
	b = append(b, "\n\n"...)
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
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
	return s.rc.Flush()
}

// RawEvent writes an event in its wire form as read by SSEReader (used when
// relaying an upstream stream unchanged).
func (s *SSEWriter) RawEvent(ev *Event) error {
	if ev.Retry > 0 && ev.Data == nil && ev.ID == "" {
		return s.Retry(time.Duration(ev.Retry) * time.Millisecond)
	}
	if ev.Retry > 0 {
		if err := s.Retry(time.Duration(ev.Retry) * time.Millisecond); err != nil {
			return err
		}
	}
	return s.Event(ev.ID, ev.Data)
}

// Event is one Server-Sent Event.
type Event struct {
	ID    string
	HasID bool // an id field was present (possibly empty)
	Name  string
	Data  []byte // nil when the event had no data field
	Retry int    // milliseconds; 0 when absent
}

// ErrEventTooLarge reports an event longer than the reader's limit.
var ErrEventTooLarge = errors.New("sse: event too large")

// SSEReader parses an event stream incrementally. It never holds more than
// one event (bounded by max bytes) in memory.
type SSEReader struct {
	r   *bufio.Reader
	max int
}

// NewSSEReader returns a reader of r whose events may be at most max bytes
// (4 MiB if max <= 0).
func NewSSEReader(r io.Reader, max int) *SSEReader {
	if max <= 0 {
		max = 4 << 20
	}
	return &SSEReader{r: bufio.NewReaderSize(r, 1<<10), max: max}
}

// Next returns the next event that carries data, an id or a retry hint.
// Comment lines and empty events are skipped. It returns io.EOF at the end
// of the stream; a stream ending inside an event drops that event, as the
// SSE processing model says.
func (s *SSEReader) Next() (*Event, error) {
	var ev Event
	size := 0
	have := false
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		size += len(line)
		if size > s.max {
			return nil, ErrEventTooLarge
		}
		if len(line) == 0 {
			if have {
				return &ev, nil
			}
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
				ev.ID, ev.HasID = string(value), true
				have = true
			}
		case "event":
			ev.Name = string(value)
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 {
				ev.Retry = n
				have = true
			}
		}
	}
}

// readLine reads one line terminated by LF or CRLF, without the terminator,
// bounded by the event limit. The SSE format also allows a bare CR as a line
// end; MCP servers do not emit one, and JSON payloads cannot hold a raw CR,
// so a bare CR is left inside the line where JSON validation rejects it.
func (s *SSEReader) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(line)+len(frag) > s.max+2 {
			return nil, ErrEventTooLarge
		}
		if err == bufio.ErrBufferFull {
			line = append(line, frag...)
			continue
		}
		if err != nil {
			if len(frag) > 0 || len(line) > 0 {
				// A last line without terminator is not a complete line.
				return nil, io.EOF
			}
			return nil, err
		}
		if line != nil {
			line = append(line, frag...)
		} else {
			line = frag
		}
		break
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
