package transport

import (
	"fmt"
	"io"
	"testing"
)

// readySource is a ReadyReader that hands out its chunks one a read and
// counts the waits (ReadReady calls) during which its reader held a buffer.
type readySource struct {
	chunks []string
	reader *SSEReader
	waits  int
	held   int
}

func (s *readySource) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; s.chunks[0] == "" {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

func (s *readySource) ReadReady(get func() []byte, put func([]byte)) ([]byte, int, error) {
	s.waits++
	if s.reader.buf != nil {
		s.held++
	}
	if len(s.chunks) == 0 {
		return nil, 0, io.EOF
	}
	p := get()
	n, err := s.Read(p)
	return p, n, err
}

// TestSSEReaderWaitsWithoutBuffer: over a ReadyReader, SSEReader holds no
// buffer whenever it waits for input with nothing buffered, nor after an
// event that emptied its buffer; a partial line keeps it.
func TestSSEReaderWaitsWithoutBuffer(t *testing.T) {
	src := &readySource{chunks: []string{"data: 1\n\n", "data: 2\n", "\n", "da", "ta: 3\n\n", "data: 4\n\ndata: 5\n\n"}}
	r := NewSSEReader(src, 0)
	src.reader = r
	var got []string
	for {
		ev, err := r.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		got = append(got, string(ev.Data))
		if r.buf != nil && r.r == r.w {
			t.Fatalf("after event %q: an empty buffer is held", ev.Data)
		}
	}
	if want := []string{"1", "2", "3", "4", "5"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	// The partial line "da" is read with Read, into the buffer that holds
	// it; every other read waited holding nothing.
	if src.waits != 6 || src.held != 0 {
		t.Fatalf("%d waits, %d of them holding a buffer; want 6, none", src.waits, src.held)
	}
	if r.buf != nil {
		t.Fatal("buffer held at the end of the stream")
	}
}
