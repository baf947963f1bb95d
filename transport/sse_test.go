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

func TestSSEReaderLimits(t *testing.T) {
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
	many := strings.Repeat("data: "+strings.Repeat("a", 30)+"\r", 4) + "\r"
	if _, err := NewSSEReader(strings.NewReader(many), 100).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("oversized event of CR lines: err = %v", err)
	}
	// Blank lines and comments between events do not count toward one.
	spaced := strings.Repeat("data: "+strings.Repeat("a", 30)+"\r\r:"+strings.Repeat("c", 30)+"\n\n", 10)
	r = NewSSEReader(strings.NewReader(spaced), 40)
	for i := 0; i < 10; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// whatwgCases are event streams with the events a browser dispatches for
// them, from the examples and rules of WHATWG HTML 9.2.5 and 9.2.6.
var whatwgCases = []struct {
	name   string
	stream string
	want   []refEvent
	retry  int // reconnection time at the end, -1 if never set
}{
	{"spec example: three messages",
		"data: This is the first message.\n\ndata: This is the second message, it\ndata: has two lines.\n\ndata: This is the third message.\n\n",
		[]refEvent{{"message", "This is the first message.", ""}, {"message", "This is the second message, it\nhas two lines.", ""}, {"message", "This is the third message.", ""}}, -1},
	{"spec example: event types", "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
		[]refEvent{{"add", "73857293", ""}, {"remove", "2153", ""}, {"add", "113411", ""}}, -1},
	{"spec example: empty data and a newline, last block unterminated", "data\n\ndata\ndata\n\ndata:",
		[]refEvent{{"message", "", ""}, {"message", "\n", ""}}, -1},
	{"spec example: one optional space", "data:test\n\ndata: test\n\n",
		[]refEvent{{"message", "test", ""}, {"message", "test", ""}}, -1},
	{"only one space removed", "data:  x\n\n", []refEvent{{"message", " x", ""}}, -1},
	{"colon in value", "data: a: b\n\n", []refEvent{{"message", "a: b", ""}}, -1},
	{"space before colon names another field", "data : x\n\n", nil, -1},
	{"comment", ": data: x\n\n", nil, -1},
	{"unknown field", "dat: x\nDATA: y\n\n", nil, -1},
	{"CR ends a line", "id: 1\rdata: forged\r\r", []refEvent{{"message", "forged", "1"}}, -1},
	{"CR between data lines", "data: a\rdata: b\n\n", []refEvent{{"message", "a\nb", ""}}, -1},
	{"CR CR dispatches", "data: a\r\rdata: b\n\n", []refEvent{{"message", "a", ""}, {"message", "b", ""}}, -1},
	{"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", []refEvent{{"message", "a\nb\nc", ""}}, -1},
	{"LF CR is two line ends", "data: a\n\rdata: b\n\n", []refEvent{{"message", "a", ""}, {"message", "b", ""}}, -1},
	{"CRLF is one line end", "data: a\r\ndata: b\r\n\r\n", []refEvent{{"message", "a\nb", ""}}, -1},
	{"BOM skipped once", "\xEF\xBB\xBFdata: x\n\n", []refEvent{{"message", "x", ""}}, -1},
	{"second BOM is part of the field name", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n", []refEvent{{"message", "y", ""}}, -1},
	{"BOM after the start", "data: x\n\n\xEF\xBB\xBFdata: y\n\n", []refEvent{{"message", "x", ""}}, -1},
	{"id persists, empty id resets", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
		[]refEvent{{"message", "a", "7"}, {"message", "b", "7"}, {"message", "c", ""}}, -1},
	{"id with NUL ignored", "id: 1\n\nid: 2\x003\ndata: x\n\n", []refEvent{{"message", "x", "1"}}, -1},
	{"id without data still sets the last id", "id: 5\n\ndata: x\n\n", []refEvent{{"message", "x", "5"}}, -1},
	{"last id field wins", "id: 1\nid: 2\ndata: x\n\n", []refEvent{{"message", "x", "2"}}, -1},
	{"type reset after an event without data", "event: foo\n\ndata: y\n\n", []refEvent{{"message", "y", ""}}, -1},
	{"retry digits", "retry: 1500\n\n", nil, 1500},
	{"retry not digits", "retry: 15x\n\nretry:  100\n\nretry: -1\n\nretry\n\n", nil, -1},
	{"no dispatch without a blank line", "data: x\n", nil, -1},
	{"no dispatch of an unterminated line", "data: x\n\ndata: y", []refEvent{{"message", "x", ""}}, -1},
	{"single CR then end", "data: x\r", nil, -1},
	{"CRLF then CR", "data: x\r\n\r", []refEvent{{"message", "x", ""}}, -1},
	{"line without colon is a field", "data\n\n", []refEvent{{"message", "", ""}}, -1},
	{"U+2028 is not a line end", "data: a\u2028b\n\n", []refEvent{{"message", "a\u2028b", ""}}, -1},
	{"NUL in data kept", "data: a\x00b\n\n", []refEvent{{"message", "a\x00b", ""}}, -1},
	{"lines longer than the read buffer", "id: " + strings.Repeat("i", 1500) + "\rdata: " + strings.Repeat("a", 2500) + "\rdata: " + strings.Repeat("b", 1018) + "\r\n\r",
		[]refEvent{{"message", strings.Repeat("a", 2500) + "\n" + strings.Repeat("b", 1018), strings.Repeat("i", 1500)}}, -1},
}

// readerEvents runs SSEReader over stream, fed chunk bytes at a time (all
// at once if chunk <= 0), and returns what a client would dispatch for
// what it read: ids carry over as a client's last event ID does.
func readerEvents(stream []byte, chunk int) (evs []refEvent, retry int, err error) {
	var in io.Reader = bytes.NewReader(stream)
	if chunk > 0 {
		in = &chunkReader{b: stream, n: chunk}
	}
	r := NewSSEReader(in, 1<<20)
	last := ""
	retry = -1
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return evs, retry, nil
		}
		if err != nil {
			return evs, retry, err
		}
		if ev.Retry > 0 {
			retry = ev.Retry
		}
		if ev.HasID {
			last = ev.ID
		}
		if ev.Data != nil {
			typ := ev.Name
			if typ == "" {
				typ = "message"
			}
			evs = append(evs, refEvent{Type: decodeUTF8([]byte(typ)), Data: decodeUTF8(ev.Data), LastEventID: decodeUTF8([]byte(last))})
		}
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.n, len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func TestSSEReaderWHATWG(t *testing.T) {
	for _, tc := range whatwgCases {
		t.Run(tc.name, func(t *testing.T) {
			ref, refRetry := refParse([]byte(tc.stream))
			if diff := cmp.Diff(tc.want, ref); diff != "" || refRetry != tc.retry {
				t.Fatalf("reference parser (-want +got):\n%s\nretry %d, want %d", diff, refRetry, tc.retry)
			}
			for _, chunk := range []int{0, 1, 2, 3} {
				got, retry, err := readerEvents([]byte(tc.stream), chunk)
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" || retry != tc.retry {
					t.Fatalf("chunk %d: SSEReader (-want +got):\n%s\nretry %d, want %d", chunk, diff, retry, tc.retry)
				}
			}
		})
	}
}

// TestSSEWriterCanonical checks that whatever an event holds, a client
// reads back exactly one event with that data and id.
func TestSSEWriterCanonical(t *testing.T) {
	for _, tc := range []struct {
		id, data, wantData, wire string
	}{
		{"1", `{"a":1}`, `{"a":1}`, "id: 1\ndata: {\"a\":1}\n\n"},
		{"", "a\nb", "a\nb", "data: a\ndata: b\n\n"},
		{"", "a\rdata: forged\r\r", "a\ndata: forged\n\n", "data: a\ndata: data: forged\ndata: \ndata: \n\n"},
		{"", "a\r\nb\n\rc", "a\nb\n\nc", "data: a\ndata: b\ndata: \ndata: c\n\n"},
		{"", "a\n", "a\n", "data: a\ndata: \n\n"},
		{"", "", "", "data: \n\n"},
		{" x", "y", "y", "id:  x\ndata: y\n\n"},
	} {
		rec := httptest.NewRecorder()
		if err := NewSSEWriter(rec).Event(tc.id, []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		if rec.Body.String() != tc.wire {
			t.Errorf("Event(%q, %q) wrote %q, want %q", tc.id, tc.data, rec.Body, tc.wire)
		}
		evs, _ := refParse(rec.Body.Bytes())
		want := []refEvent{{"message", tc.wantData, tc.id}}
		if diff := cmp.Diff(want, evs); diff != "" {
			t.Errorf("Event(%q, %q) read back (-want +got):\n%s", tc.id, tc.data, diff)
		}
	}
	for _, id := range []string{"1\rdata: forged", "1\n", "1\x00", "\r"} {
		rec := httptest.NewRecorder()
		if err := NewSSEWriter(rec).Event(id, []byte("{}")); !errors.Is(err, ErrUnsafeField) || rec.Body.Len() != 0 {
			t.Errorf("Event(%q) = %v, wrote %q; want ErrUnsafeField and nothing", id, err, rec.Body)
		}
	}
}

func TestValidEventID(t *testing.T) {
	for id, want := range map[string]bool{
		"": true, "1": true, "0_17": true, "stream-1_1700000000_abc": true, " a ~": true,
		strings.Repeat("a", MaxEventIDLength): true, strings.Repeat("a", MaxEventIDLength+1): false,
		"1\r": false, "1\n2": false, "1\x00": false, "\t": false, "\x7f": false, "é": false, "\xff": false,
	} {
		if got := ValidEventID(id); got != want {
			t.Errorf("ValidEventID(%q) = %v, want %v", id, got, want)
		}
	}
}

// FuzzSSEReader checks SSEReader against the reference parser: for any
// stream, fed in chunks of any size, a client reading the events SSEReader
// returned dispatches exactly what a client reading the stream itself does.
func FuzzSSEReader(f *testing.F) {
	for _, tc := range whatwgCases {
		f.Add([]byte(tc.stream), uint8(1))
	}
	f.Add([]byte("id: 1\ndata: {}\n\n"), uint8(0))
	f.Add([]byte("retry: 10\n\n: c\n\ndata\n\n"), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		got, _, err := readerEvents(b, int(chunk))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := refParse(b)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("stream %q (-reference +SSEReader):\n%s", b, diff)
		}
		r := NewSSEReader(bytes.NewReader(b), 64)
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > 64 {
				t.Fatalf("event larger than the limit: %d", len(ev.Data))
			}
		}
	})
}

// FuzzSSEWriter checks that any event the writer accepts reads back, by the
// reference parser, as exactly one event with the same id and data (each
// line end in data read as one LF), and that no id the writer accepts could
// end its line.
func FuzzSSEWriter(f *testing.F) {
	f.Add("1", []byte(`{"a":1}`))
	f.Add("1\rdata: x", []byte("a\r\rid: 2\r"))
	f.Add("", []byte("\r\n\n\r"))
	f.Fuzz(func(t *testing.T, id string, data []byte) {
		rec := httptest.NewRecorder()
		err := NewSSEWriter(rec).Event(id, data)
		if strings.ContainsAny(id, "\r\n\x00") {
			if !errors.Is(err, ErrUnsafeField) || rec.Body.Len() != 0 {
				t.Fatalf("unsafe id %q: err %v, wrote %q", id, err, rec.Body)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		want := []refEvent{{"message", decodeUTF8([]byte(wantData)), decodeUTF8([]byte(id))}}
		got, _ := refParse(rec.Body.Bytes())
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Event(%q, %q) wrote %q (-want +got):\n%s", id, data, rec.Body, diff)
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

// flushCounter is a ResponseWriter that counts flushes.
type flushCounter struct {
	httptest.ResponseRecorder
	flushes int
}

func (f *flushCounter) Flush() { f.flushes++ }

// TestSSEWriterLast: Last writes the same bytes as Event, without the
// flush, which the end of the response does.
func TestSSEWriterLast(t *testing.T) {
	ev, last := &flushCounter{ResponseRecorder: *httptest.NewRecorder()}, &flushCounter{ResponseRecorder: *httptest.NewRecorder()}
	for _, w := range []*flushCounter{ev, last} {
		if err := NewSSEWriter(w).Start(0); err != nil {
			t.Fatal(err)
		}
	}
	a, b := NewSSEWriter(ev), NewSSEWriter(last)
	a.started, b.started = true, true
	if err := a.Event("e1", []byte("{\"a\":\n1}")); err != nil {
		t.Fatal(err)
	}
	if err := b.Last("e1", []byte("{\"a\":\n1}")); err != nil {
		t.Fatal(err)
	}
	if ev.Body.String() != last.Body.String() || last.Body.String() != "id: e1\ndata: {\"a\":\ndata: 1}\n\n" {
		t.Errorf("Event wrote %q, Last %q", ev.Body.String(), last.Body.String())
	}
	if ev.flushes != 2 || last.flushes != 1 {
		t.Errorf("flushes: Event %d, Last %d; want 2 and 1 (Start's, then Event's only)", ev.flushes, last.flushes)
	}
	if err := b.Last("bad\nid", nil); !errors.Is(err, ErrUnsafeField) {
		t.Errorf("Last with an unsafe id: %v", err)
	}
}

func TestSSEWriterHold(t *testing.T) {
	for _, hold := range []bool{false, true} {
		rec := httptest.NewRecorder()
		w := NewSSEWriter(rec)
		if hold {
			w.Hold()
		}
		if err := w.Start(0); err != nil {
			t.Fatal(err)
		}
		if rec.Flushed != !hold {
			t.Fatalf("hold %v: headers flushed = %v", hold, rec.Flushed)
		}
		if err := w.Event("1", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := w.Comment(); err != nil {
			t.Fatal(err)
		}
		if rec.Flushed != !hold {
			t.Fatalf("hold %v: flushed = %v after an event", hold, rec.Flushed)
		}
		if got := rec.Body.String(); got != "id: 1\ndata: {}\n\n:\n\n" {
			t.Fatalf("hold %v: body %q", hold, got)
		}
	}
}
