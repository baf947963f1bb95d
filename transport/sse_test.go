package transport

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSSERoundTrip(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewSSEWriter(rec)
	if err := w.Event("p1", nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Event("", []byte("{\"a\":1}")); err != nil {
		t.Fatal(err)
	}
	if err := w.Event("3", []byte("line1\nline2")); err != nil {
		t.Fatal(err)
	}
	if err := w.Comment(); err != nil {
		t.Fatal(err)
	}
	if err := w.Retry(1500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if rec.Header().Get("X-Accel-Buffering") != "no" {
		t.Fatal("missing X-Accel-Buffering: no")
	}
	r := NewSSEReader(rec.Body, 0)
	var got []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, *ev)
	}
	want := []Event{
		{ID: "p1", HasID: true, Data: []byte("")},
		{Data: []byte(`{"a":1}`)},
		{ID: "3", HasID: true, Data: []byte("line1\nline2")},
		{Retry: 1500},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

func TestSSEReaderEdgeCases(t *testing.T) {
	in := ": comment\r\nid:7\r\nevent: message\r\ndata:x\r\n\r\ndata: partial"
	r := NewSSEReader(strings.NewReader(in), 0)
	ev, err := r.Next()
	if err != nil || ev.ID != "7" || string(ev.Data) != "x" || ev.Name != "message" {
		t.Fatalf("first event = %+v, %v", ev, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("unterminated event: err = %v, want EOF", err)
	}
	big := "data: " + strings.Repeat("a", 100) + "\n\n"
	if _, err := NewSSEReader(strings.NewReader(big), 50).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("oversized event: err = %v", err)
	}
	huge := "data: " + strings.Repeat("a", 70<<10) + "\n\n"
	if _, err := NewSSEReader(strings.NewReader(huge), 64<<10).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("oversized line: err = %v", err)
	}
}

func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("id: 1\ndata: {}\n\n"))
	f.Add([]byte("retry: 10\n\n: c\n\ndata\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewSSEReader(bytes.NewReader(b), 1024)
		for i := 0; i < 1000; i++ {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > 1024 {
				t.Fatalf("event larger than the limit: %d", len(ev.Data))
			}
		}
	})
}

// sseBenchStream is a typical upstream reply stream: a priming event, a
// progress notification and the final result, repeated.
var sseBenchStream = func() []byte {
	var b bytes.Buffer
	for i := 0; i < 64; i++ {
		b.WriteString("id: stream-1_" + strings.Repeat("7", 8) + "\ndata: \n\n")
		b.WriteString("event: message\nid: stream-1_2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		b.WriteString("id: stream-1_3\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"" + strings.Repeat("hello ", 40) + "\"}]}}\r\n\r\n")
	}
	return b.Bytes()
}()

// BenchmarkSSEReader parses an upstream event stream; b.SetBytes makes the
// result a throughput.
func BenchmarkSSEReader(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(sseBenchStream)))
	rd := bytes.NewReader(nil)
	for b.Loop() {
		rd.Reset(sseBenchStream)
		r := NewSSEReader(rd, 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardResponse) WriteHeader(int)             {}
func (d *discardResponse) Flush()                      {}

// BenchmarkSSEWriter writes one event with an id and a one-line JSON
// message.
func BenchmarkSSEWriter(b *testing.B) {
	data := []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"` + strings.Repeat("hello ", 40) + `"}]}}`)
	w := NewSSEWriter(&discardResponse{h: http.Header{}})
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := w.Event("stream-1_3", data); err != nil {
			b.Fatal(err)
		}
	}
}
