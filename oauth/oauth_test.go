package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestErrorIsAndStatus(t *testing.T) {
	cause := errors.New("db: row locked")
	err := fmt.Errorf("token: %w", Wrap(InvalidGrant, "code expired", cause))
	if !errors.Is(err, &Error{Code: InvalidGrant}) {
		t.Error("errors.Is by code failed")
	}
	if errors.Is(err, &Error{Code: InvalidClient}) {
		t.Error("errors.Is matched another code")
	}
	if !errors.Is(err, cause) {
		t.Error("cause not reachable with errors.Is")
	}
	if got := CodeOf(err); got != InvalidGrant {
		t.Errorf("CodeOf = %q", got)
	}
	if got := CodeOf(cause); got != ServerError {
		t.Errorf("CodeOf(plain) = %q", got)
	}
	for code, want := range map[ErrorCode]int{
		InvalidClient: 401, InvalidRequest: 400, ServerError: 500, InsufficientScope: 403, InvalidTarget: 400,
	} {
		if got := (&Error{Code: code}).HTTPStatus(); got != want {
			t.Errorf("%s: status %d, want %d", code, got, want)
		}
	}
}

func TestWriteErrorHidesCause(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, Wrap(InvalidGrant, "bad code", errors.New("secret-db-detail")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "secret-db-detail") {
		t.Error("cause leaked to the wire")
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"error": "invalid_grant", "error_description": "bad code"}, body); diff != "" {
		t.Error(diff)
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"a", []string{"a"}, false},
		{"a b  a c ", []string{"a", "b", "c"}, false},
		{"mcp:tools read.write", []string{"mcp:tools", "read.write"}, false},
		{"a\"b", nil, true},
		{"a\\b", nil, true},
		{"a\tb", nil, true},
		{"é", nil, true},
		{strings.Repeat("a", MaxScopeLength+1), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil && CodeOf(err) != InvalidScope {
				t.Errorf("code %q", CodeOf(err))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Error(diff)
			}
		})
	}
	many := make([]string, MaxScopes+1)
	for i := range many {
		many[i] = fmt.Sprint("s", i)
	}
	if _, err := ParseScope(strings.Join(many, " ")); err == nil {
		t.Error("too many scopes accepted")
	}
}

func TestPKCE(t *testing.T) {
	// RFC 7636 appendix B.
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got := S256Challenge(verifier); got != challenge {
		t.Errorf("challenge %q", got)
	}
	if !VerifyS256(verifier, challenge) || !ValidCodeChallenge(challenge) {
		t.Error("appendix B vector rejected")
	}
	for _, bad := range []string{"", "short", verifier + "!", strings.Repeat("a", 129)} {
		if VerifyS256(bad, challenge) {
			t.Errorf("verifier %q accepted", bad)
		}
	}
	if ValidCodeChallenge(challenge[:42]) || ValidCodeChallenge(challenge[:42]+"=") {
		t.Error("malformed challenge accepted")
	}
}

func TestParseClientMetadata(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *ClientMetadata
		wantErr bool
	}{
		{"minimal", `{"client_id":"https://c.example/m","client_name":"C","redirect_uris":["http://127.0.0.1/cb"]}`,
			&ClientMetadata{ClientID: "https://c.example/m", ClientName: "C", RedirectURIs: []string{"http://127.0.0.1/cb"}}, false},
		{"unknown fields ignored", `{"client_name":"C","x_custom":{"a":[1,2]},"client_name#fr":"Ç"}`,
			&ClientMetadata{ClientName: "C"}, false},
		{"null is absent", `{"client_name":null,"redirect_uris":null}`, &ClientMetadata{}, false},
		{"case-sensitive names", `{"Client_Name":"X","REDIRECT_URIS":["https://a"]}`, &ClientMetadata{}, false},
		{"secret flagged", `{"client_secret":"s"}`, &ClientMetadata{HasClientSecret: true, ClientSecret: "s"}, false},
		{"jwks kept", `{"jwks":{"keys":[]}}`, &ClientMetadata{JWKS: json.RawMessage(`{"keys":[]}`)}, false},
		{"duplicate key", `{"client_name":"a","client_name":"b"}`, nil, true},
		{"escaped duplicate", `{"client_name":"a","client\u005fname":"b"}`, nil, true},
		{"wrong type", `{"redirect_uris":"https://a"}`, nil, true},
		{"wrong list element", `{"redirect_uris":[1]}`, nil, true},
		{"jwks not object", `{"jwks":"x"}`, nil, true},
		{"not object", `["a"]`, nil, true},
		{"trailing", `{} {}`, nil, true},
		{"bad utf8", "{\"client_name\":\"\xff\"}", nil, true},
		{"too deep", `{"x":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientMetadata([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if CodeOf(err) != InvalidClientMetadata {
					t.Errorf("code %q", CodeOf(err))
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestAudienceJSON(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Audience
		out  string
	}{
		{`"a"`, Audience{"a"}, `"a"`},
		{`["a","b"]`, Audience{"a", "b"}, `["a","b"]`},
	} {
		var a Audience
		if err := json.Unmarshal([]byte(tt.in), &a); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, a); diff != "" {
			t.Error(diff)
		}
		b, _ := json.Marshal(a)
		if string(b) != tt.out {
			t.Errorf("marshal %s", b)
		}
	}
	var a Audience
	if err := json.Unmarshal([]byte(`3`), &a); err == nil {
		t.Error("number accepted as aud")
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "a b", "mcp:tools  x", "\x00", "a\"b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScope(s)
		if err != nil {
			return
		}
		// Round trip: formatting and reparsing is stable.
		again, err := ParseScope(FormatScope(got))
		if err != nil || !cmp.Equal(got, again, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") })) {
			t.Fatalf("round trip %q -> %q -> %q (%v)", s, got, again, err)
		}
	})
}

func FuzzParseClientMetadata(f *testing.F) {
	for _, s := range []string{`{}`, `{"client_id":"https://a/b","redirect_uris":["x"],"jwks":{"keys":[{}]}}`, `{"a":`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseClientMetadata(b)
		if err != nil {
			if CodeOf(err) != InvalidClientMetadata {
				t.Fatalf("unexpected code %q", CodeOf(err))
			}
			return
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("parsed metadata does not marshal: %v", err)
		}
	})
}
