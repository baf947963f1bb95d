package resourceserver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"a", []string{"a"}, false},
		{"a b", []string{"a", "b"}, false},
		{"  a   b  ", []string{"a", "b"}, false},
		{"b a b", []string{"b", "a"}, false},
		{"mcp:tools https://x/y", []string{"mcp:tools", "https://x/y"}, false},
		{`a"b`, nil, true},
		{`a\b`, nil, true},
		{"a\tb", nil, true},
		{"a\nb", nil, true},
		{"é", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSatisfies(t *testing.T) {
	tests := []struct {
		granted, required string
		want              bool
	}{
		{"mcp:tools", "mcp:tools", true},
		{"mcp:tools", "mcp:tools:read", true},
		{"mcp:tools", "mcp:tools:read:files", true},
		{"mcp", "mcp:tools", true},
		{"mcp:tools:read", "mcp:tools", false},
		{"mcp:tools", "mcp:tools-basic", false},
		{"mcp:tools", "mcp:toolsx", false},
		{"mcp:tools:", "mcp:tools:read", false},
		{"mcp:tool", "mcp:tools", false},
		{"MCP:tools", "mcp:tools", false},
		{"", "mcp", false},
		{"", "", false},
		{"files", "files", true},
	}
	for _, tt := range tests {
		t.Run(tt.granted+"/"+tt.required, func(t *testing.T) {
			if got := Satisfies(tt.granted, tt.required); got != tt.want {
				t.Errorf("Satisfies(%q, %q) = %v", tt.granted, tt.required, got)
			}
		})
	}
	if diff := cmp.Diff([]string{"b:x", "c"}, MissingScopes([]string{"a"}, []string{"a:1", "b:x", "c", "c"})); diff != "" {
		t.Errorf("MissingScopes (-want +got):\n%s", diff)
	}
	if MissingScopes([]string{"a"}, []string{"a:1", "a"}) != nil {
		t.Error("MissingScopes not nil when satisfied")
	}
}

func FuzzParseScope(f *testing.F) {
	f.Add("mcp:tools mcp:resources:read")
	f.Add(`a"b`)
	f.Add("  ")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScope(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tok := range got {
			if !validScopeToken(tok) || seen[tok] {
				t.Fatalf("ParseScope(%q) returned %q", s, got)
			}
			seen[tok] = true
			if !Satisfies(tok, tok) {
				t.Fatalf("a scope does not satisfy itself: %q", tok)
			}
		}
		// Round trip: joining and re-parsing is the identity.
		again, err := ParseScope(strings.Join(got, " "))
		if err != nil || !cmp.Equal(got, again, cmpopts.EquateEmpty()) {
			t.Fatalf("round trip of %q: %q, %v", got, again, err)
		}
	})
}

func TestCanonicalResource(t *testing.T) {
	tests := []struct {
		in, want, metadata string
		wantErr            bool
	}{
		{in: "https://mcp.example.com/mcp", want: "https://mcp.example.com/mcp", metadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"},
		{in: "HTTPS://MCP.Example.COM/MCP", want: "https://mcp.example.com/MCP", metadata: "https://mcp.example.com/.well-known/oauth-protected-resource/MCP"},
		{in: "https://mcp.example.com", want: "https://mcp.example.com", metadata: "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{in: "https://mcp.example.com/", want: "https://mcp.example.com", metadata: "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{in: "https://mcp.example.com:443/mcp", want: "https://mcp.example.com/mcp"},
		{in: "http://localhost:80/mcp", want: "http://localhost/mcp"},
		{in: "https://mcp.example.com:8443", want: "https://mcp.example.com:8443"},
		{in: "https://mcp.example.com/server/mcp/", want: "https://mcp.example.com/server/mcp/"},
		{in: "https://mcp.example.com/a%20b", want: "https://mcp.example.com/a%20b"},
		{in: "https://[::1]:8080/mcp", want: "https://[::1]:8080/mcp"},
		{in: "https://[::1]/mcp", want: "https://[::1]/mcp"},
		{in: "https://mcp.example.com/mcp?tenant=1", want: "https://mcp.example.com/mcp?tenant=1", metadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp?tenant=1"},
		{in: "mcp.example.com", wantErr: true},
		{in: "https://mcp.example.com#fragment", wantErr: true},
		{in: "https://mcp.example.com/#", wantErr: true},
		{in: "https://user@mcp.example.com", wantErr: true},
		{in: "ftp://mcp.example.com", wantErr: true},
		{in: "https:///mcp", wantErr: true},
		{in: "https:mcp", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CanonicalResource(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.metadata != "" {
				md, err := MetadataURL(tt.in)
				if err != nil || md != tt.metadata {
					t.Errorf("MetadataURL = %q, %v; want %q", md, err, tt.metadata)
				}
			}
			if err == nil {
				again, err := CanonicalResource(got)
				if err != nil || again != got {
					t.Errorf("not idempotent: %q -> %q, %v", got, again, err)
				}
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name   string
		target string
		authz  []string
		token  string
		code   ErrorCode
		noTok  bool
	}{
		{name: "ok", authz: []string{"Bearer abc.DEF-_~+/=="}, token: "abc.DEF-_~+/=="},
		{name: "case-insensitive scheme", authz: []string{"BEARER abc"}, token: "abc"},
		{name: "several spaces", authz: []string{"Bearer   abc"}, token: "abc"},
		{name: "missing", noTok: true},
		{name: "basic", authz: []string{"Basic abc"}, noTok: true},
		{name: "bearer prefix of another scheme", authz: []string{"Bearerx abc"}, noTok: true},
		{name: "empty", authz: []string{""}, noTok: true},
		{name: "no token", authz: []string{"Bearer "}, code: InvalidRequest},
		{name: "two tokens", authz: []string{"Bearer a b"}, code: InvalidRequest},
		{name: "padding inside", authz: []string{"Bearer a=b"}, code: InvalidRequest},
		{name: "comma", authz: []string{"Bearer a,b"}, code: InvalidRequest},
		{name: "two headers", authz: []string{"Bearer a", "Bearer a"}, code: InvalidRequest},
		{name: "query", target: "/?access_token=x", code: InvalidRequest},
		{name: "query plus-encoded", target: "/?access+token=x&access_token", code: InvalidRequest},
		{name: "query unrelated", target: "/?token=x", authz: []string{"Bearer a"}, token: "a"},
		{name: "exactly max", authz: []string{"Bearer " + strings.Repeat("a", DefaultMaxTokenBytes)}, token: strings.Repeat("a", DefaultMaxTokenBytes)},
		{name: "over max", authz: []string{"Bearer " + strings.Repeat("a", DefaultMaxTokenBytes+1)}, code: InvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "/"
			}
			r := httptest.NewRequest(http.MethodPost, target, nil)
			for _, a := range tt.authz {
				r.Header.Add("Authorization", a)
			}
			tok, err := BearerToken(r, 0)
			switch {
			case tt.noTok:
				if !errors.Is(err, ErrNoToken) {
					t.Fatalf("err = %v, want ErrNoToken", err)
				}
			case tt.code != "":
				var e *Error
				if !errors.As(err, &e) || e.Code != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
			default:
				if err != nil || tok != tt.token {
					t.Fatalf("got %q, %v; want %q", tok, err, tt.token)
				}
			}
		})
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("Bearer abc")
	f.Add("bearer a=b")
	f.Add("Basic x")
	f.Add("Bearer  a b")
	f.Fuzz(func(t *testing.T, v string) {
		tok, bearer, err := ParseAuthorization(v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != InvalidRequest || !bearer {
				t.Fatalf("ParseAuthorization(%q): unexpected error %v", v, err)
			}
			return
		}
		if !bearer {
			if tok != "" {
				t.Fatal("token without Bearer scheme")
			}
			return
		}
		if !isB64Token(tok) || !strings.HasSuffix(v, tok) {
			t.Fatalf("ParseAuthorization(%q) = %q", v, tok)
		}
		// What it accepts it accepts again when written canonically.
		tok2, _, err := ParseAuthorization("Bearer " + tok)
		if err != nil || tok2 != tok {
			t.Fatalf("canonical form of %q: %q, %v", v, tok2, err)
		}
	})
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		name string
		c    Challenge
		want string
	}{
		{"no token", Challenge{ResourceMetadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", Scopes: []string{"mcp:tools"}},
			`Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`},
		{"all", Challenge{Realm: "r", Error: InsufficientScope, Description: "need more", Scopes: []string{"a", "b", "a"}, ResourceMetadata: "https://x/y"},
			`Bearer realm="r", resource_metadata="https://x/y", scope="a b", error="insufficient_scope", error_description="need more"`},
		{"hostile values", Challenge{Error: InvalidToken, Description: "a\"b\\c\r\nWWW-Authenticate: x", Scopes: []string{`x"y`, "ok", "bad scope"}, ResourceMetadata: "https://x/\"y"},
			`Bearer resource_metadata="https://x/y", scope="ok", error="invalid_token", error_description="abcWWW-Authenticate: x"`},
		{"empty", Challenge{}, `Bearer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Challenge
		wantErr bool
	}{
		{name: "simple", in: `Bearer error="invalid_token", scope="a b"`, want: Challenge{Error: InvalidToken, Scopes: []string{"a", "b"}}},
		{name: "token values and case", in: `bearer Error=invalid_token,realm=x`, want: Challenge{Error: InvalidToken, Realm: "x"}},
		{name: "after basic", in: `Basic realm="b", Bearer realm="r", resource_metadata="https://x"`, want: Challenge{Realm: "r", ResourceMetadata: "https://x"}},
		{name: "after token68", in: `Negotiate abc==, Bearer realm="r"`, want: Challenge{Realm: "r"}},
		{name: "before another", in: `Bearer realm="r", DPoP algs="ES256"`, want: Challenge{Realm: "r"}},
		{name: "escapes", in: `Bearer error_description="a\"b\\c"`, want: Challenge{Description: `a"b\c`}},
		{name: "bare scheme", in: `Bearer`, want: Challenge{}},
		{name: "repeated", in: `Bearer realm="a", realm="b"`, wantErr: true},
		{name: "no bearer", in: `Basic realm="x"`, wantErr: true},
		{name: "unterminated", in: `Bearer realm="x`, wantErr: true},
		{name: "garbage", in: `Bearer realm="x" y`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChallenge(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzChallengeRoundTrip: whatever goes into a Challenge, the header it
// writes is one well-formed challenge that parses back to the sanitized
// values.
func FuzzChallengeRoundTrip(f *testing.F) {
	f.Add("realm", "invalid_token", "the token expired", "a b:c", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
	f.Add("", "", "", "", "")
	f.Add(`"`, `\`, "\r\n", `x"y z`, `https://x/"`)
	f.Fuzz(func(t *testing.T, realm, code, desc, scopes, md string) {
		c := Challenge{Realm: realm, Error: ErrorCode(code), Description: desc, Scopes: strings.Split(scopes, " "), ResourceMetadata: md}
		h := c.String()
		if strings.ContainsAny(h, "\r\n\x00") {
			t.Fatalf("header contains a control character: %q", h)
		}
		got, err := ParseChallenge(h)
		if err != nil {
			t.Fatalf("ParseChallenge(%q): %v", h, err)
		}
		want := Challenge{
			Realm:            sanitizeQuoted(realm),
			Error:            ErrorCode(sanitizeQuoted(code)),
			Description:      sanitizeQuoted(desc),
			Scopes:           strings.Fields(challengeScopes(c.Scopes)),
			ResourceMetadata: sanitizeQuoted(md),
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of %q (-want +got):\n%s", h, diff)
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Basic realm="b", Bearer realm="r", error="invalid_token"`)
	f.Add(`Negotiate abc==, Bearer`)
	f.Fuzz(func(t *testing.T, h string) {
		_, _ = ParseChallenge(h)
	})
}

// TestB64TokenTable checks the bitmaps against the RFC 6750 §2.1 grammar
// written out.
func TestB64TokenTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		want := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/'
		if got := isB64TokenChar(b); got != want {
			t.Errorf("isB64TokenChar(%q) = %v", b, got)
		}
	}
}

// FuzzBearerToken: the request-level extraction (query string and header)
// never panics and never accepts a token in the query.
func FuzzBearerToken(f *testing.F) {
	f.Add("access_token=x", "Bearer abc")
	f.Add("a=1&access%5Ftoken=2", "")
	f.Add("%zz", "bearer   a==")
	f.Fuzz(func(t *testing.T, query, authz string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = query
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		tok, err := BearerToken(r, 0)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !isB64Token(tok) {
			t.Fatalf("accepted %q", tok)
		}
		if q, perr := url.ParseQuery(query); perr == nil && q.Has("access_token") {
			t.Fatalf("accepted a request with access_token in the query %q", query)
		}
	})
}

func FuzzCanonicalResource(f *testing.F) {
	f.Add("https://MCP.example.com:443/mcp")
	f.Add("http://[::1]:80/")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := CanonicalResource(raw)
		if err != nil {
			return
		}
		again, err := CanonicalResource(c)
		if err != nil || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", raw, c, again, err)
		}
		if strings.Contains(c, "#") {
			t.Fatalf("fragment kept: %q", c)
		}
	})
}
