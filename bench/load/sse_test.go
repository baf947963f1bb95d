package load

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func events(stream string) []string {
	var got []string
	eachEvent([]byte(stream), nil, func(d []byte) bool {
		got = append(got, string(d))
		return true
	})
	return got
}

func TestEachEvent(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []string
	}{
		{"one message", "data: {\"id\":1}\n\n", []string{`{"id":1}`}},
		{"priming event, retry, then a message", "id: s1.0\nretry: 1000\ndata:\n\nid: s1.1\ndata: {\"id\":2}\n\n", []string{"", `{"id":2}`}},
		{"multi-line data joins with LF", "data: a\ndata:b\ndata:  c\n\n", []string{"a\nb\n c"}},
		{"CRLF and CR line ends", "data: x\r\n\r\ndata: y\r\rdata: z\n\n", []string{"x", "y", "z"}},
		{"comments and unknown fields are ignored", ": ok\nfoo: bar\ndata: m\n\n", []string{"m"}},
		{"other event types are skipped", "event: ping\ndata: p\n\nevent: message\ndata: m\n\n", []string{"m"}},
		{"no data, no event", "id: 5\n\nretry: 3\n\n", nil},
		{"field without colon", "data\n\n", []string{""}},
		{"unterminated event is dropped", "data: done\n\ndata: partial\n", []string{"done"}},
		{"unterminated line is dropped", "data: done\n\ndata: par", []string{"done"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, events(tt.stream)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEachEventStops(t *testing.T) {
	n := 0
	eachEvent([]byte("data: 1\n\ndata: 2\n\n"), nil, func([]byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("fn called %d times after returning false, want 1", n)
	}
}

// refEvents is a second, byte-at-a-time reading of the same algorithm
// (WHATWG HTML 9.2.6), to check eachEvent against.
func refEvents(stream []byte) []string {
	var lines []string
	var cur []byte
	for i := 0; i < len(stream); i++ {
		switch c := stream[i]; c {
		case '\r':
			if i+1 < len(stream) && stream[i+1] == '\n' {
				i++
			}
			fallthrough
		case '\n':
			lines = append(lines, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	var out []string
	var data strings.Builder
	typ, has := "", false
	for _, line := range lines {
		if line == "" {
			if has && (typ == "" || typ == "message") {
				out = append(out, strings.TrimSuffix(data.String(), "\n"))
			}
			data.Reset()
			typ, has = "", false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "data":
			data.WriteString(value + "\n")
			has = true
		case "event":
			typ = value
		}
	}
	return out
}

func FuzzEachEvent(f *testing.F) {
	for _, s := range []string{
		"data: {\"id\":1}\n\n",
		"id: a\r\nretry: 5\r\ndata:\r\n\r\nevent: x\rdata: y\r\r",
		": c\ndata\ndata: 2\n\nevent: message\ndata: z\n\ndata: tail",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		var got []string
		eachEvent(stream, nil, func(d []byte) bool {
			got = append(got, string(d))
			return true
		})
		want := refEvents(stream)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("eachEvent(%q) (-reference +got):\n%s", stream, diff)
		}
	})
}
