package mcp

import (
	"testing"
	"unicode/utf8"
)

func TestParseParams(t *testing.T) {
	p, err := ParseParams([]byte(`{"name":"t","arguments":{"a":1},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":5,"io.modelcontextprotocol/logLevel":"debug"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "t" || !p.HasProtocolVersion || p.ProtocolVersion != Version20260728 || string(p.ClientCapabilities) != "{}" || string(p.ProgressToken) != "5" || p.LogLevel != "debug" {
		t.Fatalf("unexpected %+v", p)
	}
	for _, bad := range []string{
		`{"name":1}`,
		`{"uri":null}`,
		`{"_meta":[]}`,
		`{"_meta":{"io.modelcontextprotocol/protocolVersion":2026}}`,
		`{"_meta":{"io.modelcontextprotocol/clientCapabilities":"x"}}`,
	} {
		if _, err := ParseParams([]byte(bad)); err == nil {
			t.Errorf("ParseParams(%s) accepted", bad)
		}
	}
}

func TestHeaderValues(t *testing.T) {
	tests := []struct{ plain, header string }{
		{"us-west1", "us-west1"},
		{"Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="},
		{" padded ", "=?base64?IHBhZGRlZCA=?="},
		{"line1\nline2", "=?base64?bGluZTEKbGluZTI=?="},
		{"=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="},
	}
	for _, tt := range tests {
		if got := EncodeHeaderValue(tt.plain); got != tt.header {
			t.Errorf("Encode(%q) = %q, want %q", tt.plain, got, tt.header)
		}
		if got, err := DecodeHeaderValue(tt.header); err != nil || got != tt.plain {
			t.Errorf("Decode(%q) = %q, %v", tt.header, got, err)
		}
	}
	for _, bad := range []string{"a\x00b", "caf\xc3\xa9", "=?base64?!!!?="} {
		if _, err := DecodeHeaderValue(bad); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func FuzzHeaderValue(f *testing.F) {
	f.Add("tools")
	f.Add("=?base64?SGVsbG8=?=")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		enc := EncodeHeaderValue(s)
		dec, err := DecodeHeaderValue(enc)
		if err != nil || dec != s {
			t.Fatalf("round trip %q -> %q -> %q (%v)", s, enc, dec, err)
		}
		_, _ = DecodeHeaderValue(s)
	})
}

func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"name":"x","_meta":{"progressToken":"p"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseParams(b) // must not panic, even on unvalidated input
	})
}
