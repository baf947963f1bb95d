package vault

import (
	"strings"
	"testing"
)

func TestChallengeParam(t *testing.T) {
	for h, want := range map[string]string{
		`Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp"`: "https://a.example/.well-known/oauth-protected-resource/mcp",
		`Bearer error="invalid_token", resource_metadata="https://a.example/m"`:                 "https://a.example/m",
		`Bearer resource_metadata=https://a.example/m, scope="x"`:                               "https://a.example/m",
		`Bearer xresource_metadata="https://evil.example/"`:                                     "",
		`Bearer resource_metadata="unterminated`:                                                "",
		`Bearer realm="x"`:                                                                      "",
	} {
		if got := challengeParam(h, "resource_metadata"); got != want {
			t.Errorf("%s: got %q, want %q", h, got, want)
		}
	}
}

// FuzzChallengeParam: any header gives a value that is a part of it,
// without quotes, and never panics.
func FuzzChallengeParam(f *testing.F) {
	f.Add(`Bearer resource_metadata="https://a.example/m"`)
	f.Add(`Bearer error="x",resource_metadata=y`)
	f.Fuzz(func(t *testing.T, h string) {
		v := challengeParam(h, "resource_metadata")
		if !strings.Contains(h, v) || strings.Contains(v, `"`) {
			t.Fatalf("%q -> %q", h, v)
		}
	})
}
