package authserver

import (
	"net/url"
	"strings"
	"testing"
)

// TestReturnAllowed: the sign-in page's return URL must lie under a
// configured prefix of this origin; anything a browser could read as
// another origin or path is refused (no open redirect).
func TestReturnAllowed(t *testing.T) {
	s := &Server{opts: Options{SignInReturns: []string{"https://gw.example/oauth/connect/"}}}
	for ret, want := range map[string]bool{
		"https://gw.example/oauth/connect/vault?ticket=abc_-": true,
		"https://gw.example/oauth/connect/":                   false, // not a clean path
		"https://gw.example/oauth/connectx":                   false,
		"https://gw.example/oauth/connect":                    false,
		"http://gw.example/oauth/connect/vault":               false,
		"https://gw.example:444/oauth/connect/vault":          false,
		"https://evil.example/oauth/connect/vault":            false,
		"//gw.example/oauth/connect/vault":                    false,
		"/oauth/connect/vault":                                false,
		"https://gw.example@evil.example/oauth/connect/":      false,
		"https://x@gw.example/oauth/connect/":                 false,
		"https://gw.example/oauth/connect/../admin":           false,
		"https://gw.example/oauth/connect/%2e%2e/admin":       false,
		"https://gw.example/oauth/connect/a%2fb":              false,
		"https://gw.example/oauth/connect\\evil":              false,
		"https://gw.example/oauth/connect/v#x":                false,
		"https://gw.example/oauth/connect/v\t":                false,
		"https://gw.example/oauth/connect/v\x00":              false,
		"javascript://gw.example/oauth/connect/%0aalert(1)":   false,
		"": false,
	} {
		if got := s.returnAllowed(ret); got != want {
			t.Errorf("returnAllowed(%q) = %v, want %v", ret, got, want)
		}
	}
	if (&Server{}).returnAllowed("https://gw.example/oauth/connect/v") {
		t.Error("allowed with no SignInReturns")
	}
}

// FuzzReturnAllowed: whatever is allowed parses to the configured scheme
// and host and a clean path under the prefix.
func FuzzReturnAllowed(f *testing.F) {
	for _, s := range []string{"https://gw.example/oauth/connect/vault?ticket=x", "//evil", "https://gw.example/oauth/connect/../x", "https:gw.example/oauth/connect/"} {
		f.Add(s)
	}
	s := &Server{opts: Options{SignInReturns: []string{"https://gw.example/oauth/connect/"}}}
	f.Fuzz(func(t *testing.T, ret string) {
		if !s.returnAllowed(ret) {
			return
		}
		u, err := url.Parse(ret)
		if err != nil || u.Scheme != "https" || u.Host != "gw.example" || u.User != nil || !strings.HasPrefix(u.Path, "/oauth/connect/") ||
			strings.Contains(u.Path, "..") || !strings.HasPrefix(ret, "https://gw.example/oauth/connect/") {
			t.Fatalf("allowed %q", ret)
		}
	})
}
