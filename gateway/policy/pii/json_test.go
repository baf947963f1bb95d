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
			name: "member names are rewritten",
			in:   `{"bob@example.com":"x","b\u0069ll@example.com":{"4111111111111111":1}}`,
			want: `{"b***@example.com (1)":"x","b***@example.com (2)":{"************1111 (1)":1}}`,
		},
		{
			name: "a rewritten member name stays unique",
			in:   `{"ann@example.com":1,"a***@example.com":2}`,
			want: `{"a***@example.com (1)":1,"a***@example.com":2}`,
		},
		{
			name: "one rewritten member name is not numbered",
			in:   `{"ann@example.com":1,"b":2}`,
			want: `{"a***@example.com":1,"b":2}`,
		},
		{
			name: "_meta is left alone",
			in:   `{"_meta":{"by":"bob@example.com"},"text":"ok"}`,
			want: `{"_meta":{"by":"bob@example.com"},"text":"ok"}`,
		},
		{
			name: "_meta in structured content is data",
			in:   `{"_meta":{"by":"bob@example.com"},"structuredContent":{"_meta":{"by":"bob@example.com"},"x":{"_meta":"ann@example.com"}}}`,
			want: `{"_meta":{"by":"bob@example.com"},"structuredContent":{"_meta":{"by":"b***@example.com"},"x":{"_meta":"a***@example.com"}}}`,
		},
		{
			name: "escapes do not make text base64",
			in:   `{"data":"` + strings.Repeat(`\u0062\u006f\u0062\u0040\u0065\u0078\u0061\u006d\u0070\u006c\u0065\u002e\u0063\u006f\u006d `, 4) + `"}`,
			want: `{"data":"` + strings.Repeat("b***@example.com ", 4) + `"}`,
		},
		{
			name: "escaped base64 is still base64",
			in:   `{"data":"` + strings.Replace(long, "/", `\/`, 1) + `x/Q="}`,
			want: `{"data":"` + strings.Replace(long, "/", `\/`, 1) + `x/Q="}`,
		},
		{
			name: "a card glued into base64 letters is scanned",
			in:   `{"data":"` + long[:48] + `/4111111111111111/A="}`,
			want: `{"data":"` + long[:48] + `/************1111/A="}`,
		},
		{
			name: "text without padding to four is not base64",
			in:   `{"blob":"` + long[:63] + `/4111111111111111"}`,
			want: `{"blob":"` + long[:63] + `/************1111"}`,
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
	for _, in := range []string{`{"a":`, `{"a" "b"}`, `["x@example.com"`, "\"\xff\"", `{"a":tru}`, strings.Repeat("[", 200) + strings.Repeat("]", 200), `"a" "b"`,
		// Duplicate member names: the gateway's readers refuse them, so
		// the walker does too, even after unescaping.
		`{"a":1,"a":2}`, `{"bob@example.com":"x","b\u006fb@example.com":"y"}`} {
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
