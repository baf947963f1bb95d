package pinning

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const h1 = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
const h2 = "sha256:00000000000000000000000000000000000000000000000000000000000000ff"

func TestParsePinFile(t *testing.T) {
	in := `# pins
version: 1
servers:
  github:
    tools:
      create_issue: ` + h1 + `
      "weird name": ` + h2 + `
  files:
    tools: {}
`
	got, err := ParsePinFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Pin{
		{Server: "github", Tool: "create_issue", Hash: h1, ApprovedBy: ApprovedByPinFile},
		{Server: "github", Tool: "weird name", Hash: h2, ApprovedBy: ApprovedByPinFile},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	again, err := ParsePinFile(FormatPinFile(got))
	if err != nil {
		t.Fatalf("formatted pin file does not parse: %v\n%s", err, FormatPinFile(got))
	}
	if diff := cmp.Diff(want, again, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if _, err := ParsePinFile([]byte(`{"servers":{"a":{"tools":{"t":"` + h1 + `"}}}}`)); err != nil {
		t.Fatalf("JSON pin file: %v", err)
	}
}

func TestParsePinFileRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown key", "servers: {}\nextra: 1\n", "not found"},
		{"unknown server key", "servers:\n  a:\n    tool: {}\n", "not found"},
		{"bad hash", "servers:\n  a:\n    tools:\n      t: sha256:abc\n", "hash must be"},
		{"upper-case hash", "servers:\n  a:\n    tools:\n      t: " + strings.ToUpper(h1) + "\n", "hash must be"},
		{"md5", "servers:\n  a:\n    tools:\n      t: md5:0123\n", "hash must be"},
		{"bad server", "servers:\n  \"a b\":\n    tools:\n      t: " + h1 + "\n", "server names"},
		{"control char in tool", "servers:\n  a:\n    tools:\n      \"t\\x01\": " + h1 + "\n", "tool names"},
		{"duplicate key", "servers:\n  a:\n    tools:\n      t: " + h1 + "\n      t: " + h2 + "\n", "already defined"},
		{"two documents", "servers: {}\n---\nservers: {}\n", "single YAML document"},
		{"version", "version: 2\n", "not supported"},
		{"not a map", "- a\n- b\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePinFile([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParsePinFile(f *testing.F) {
	f.Add([]byte("version: 1\nservers:\n  a:\n    tools:\n      t: " + h1 + "\n"))
	f.Add([]byte(`{"servers":{"a":{"tools":{"t":"` + h1 + `"}}}}`))
	f.Add([]byte("servers: &x\n  a: *x\n"))
	f.Add([]byte("servers:\n  a:\n    tools:\n      \"\\U0001F600\": " + h2 + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pins, err := ParsePinFile(in)
		if err != nil {
			return
		}
		for _, p := range pins {
			if !validHash(p.Hash) || !validServerName(p.Server) || !validToolName(p.Tool) {
				t.Fatalf("accepted invalid pin %+v", p)
			}
		}
		again, err := ParsePinFile(FormatPinFile(pins))
		if err != nil {
			t.Fatalf("formatted pins do not parse: %v\n%s", err, FormatPinFile(pins))
		}
		if !cmp.Equal(pins, again, cmpopts.EquateEmpty()) {
			t.Fatalf("round trip changed pins:\n%v\n%v", pins, again)
		}
	})
}
