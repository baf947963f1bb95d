package pii

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSON(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("QUtJQUlPU0ZPRE5ON0VYQU1QTEU", 4) // base64 that decodes to nothing in particular
	tests := []struct{ name, in, want string }{
		{
			name: "text content",
			in:   `{"content":[{"type":"text","text":"mail bob@example.com"}]}`,
			want: `{"content":[{"type":"text","text":"mail b***@example.com"}]}`,
		},
		{
			name: "structured content keeps its shape",
			in:   `{"structuredContent":{"user":{"email":"bob@example.com","cards":["4111111111111111"],"age":42,"ok":true,"n":null}}}`,
			want: `{"structuredContent":{"user":{"email":"b***@example.com","cards":["************1111"],"age":42,"ok":true,"n":null}}}`,
		},
		{
			name: "escaped characters are decoded before scanning",
			in:   `{"text":"bob\u0040example.com"}`,
			want: `{"text":"b***@example.com"}`,
		},
		{
			name: "member names are not rewritten",
			in:   `{"bob@example.com":"x"}`,
			want: `{"bob@example.com":"x"}`,
		},
		{
			name: "_meta is left alone",
			in:   `{"_meta":{"by":"bob@example.com"},"text":"ok"}`,
			want: `{"_meta":{"by":"bob@example.com"},"text":"ok"}`,
		},
		{
			name: "base64 payloads are skipped",
			in:   `{"type":"image","data":"` + long + `","mimeType":"image/png"}`,
			want: `{"type":"image","data":"` + long + `","mimeType":"image/png"}`,
		},
		{
			name: "a short data string is scanned",
			in:   `{"data":"4111111111111111"}`,
			want: `{"data":"************1111"}`,
		},
		{
			name: "whitespace is kept",
			in:   "{ \"a\" : [ \"x@example.com\" , 1 ] }",
			want: "{ \"a\" : [ \"x***@example.com\" , 1 ] }",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := p.JSON(Results, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON: %s", got)
			}
		})
	}
}

func TestJSONRejectsMalformed(t *testing.T) {
	p, _ := New(Options{})
	for _, in := range []string{`{"a":`, `{"a" "b"}`, `["x@example.com"`, "\"\xff\"", `{"a":tru}`, strings.Repeat("[", 200) + strings.Repeat("]", 200), `"a" "b"`} {
		if _, _, err := p.JSON(Results, []byte(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	if got := string(p.LogJSON([]byte(`{"a":`))); got != `"[REDACTED:unparsable]"` {
		t.Errorf("LogJSON of malformed input = %s", got)
	}
}

func TestUnchangedIsSameSlice(t *testing.T) {
	p, _ := New(Options{})
	in := []byte(`{"text":"nothing to see, 12 items at 3.50 each"}`)
	out, o, err := p.JSON(Results, in)
	if err != nil || o.Changed() || &out[0] != &in[0] {
		t.Fatalf("unchanged input was copied or changed: %s %v", out, err)
	}
}
