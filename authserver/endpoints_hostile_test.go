package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOtherEndpointsHostile: malformed, oversized, repeated and missing
// parameters and wrong authentication on the introspection, revocation,
// registration-management and page endpoints, and wrong methods
// everywhere.
func TestOtherEndpointsHostile(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login(e.browser())
	ep := e.srv.endpoints
	conf := [2]string{confClient, confSecret}
	rs := [2]string{rsClient, rsSecret}
	tests := []struct {
		name   string
		call   tokenCall
		status int
		code   string
	}{
		{"introspect no token", tokenCall{path: ep.introspect, form: url.Values{}, basic: rs}, 400, "invalid_request"},
		{"introspect repeated token", tokenCall{path: ep.introspect, form: url.Values{"token": {"a", "b"}}, basic: rs}, 400, "invalid_request"},
		{"introspect json body", tokenCall{path: ep.introspect, raw: `{"token":"x"}`, ctype: "application/json", basic: rs}, 400, "invalid_request"},
		{"introspect oversized", tokenCall{path: ep.introspect, raw: "token=" + strings.Repeat("a", maxFormBytes+1), basic: rs}, 400, "invalid_request"},
		{"introspect wrong secret", tokenCall{path: ep.introspect, form: url.Values{"token": {"x"}}, basic: [2]string{confClient, "nope"}}, 401, "invalid_client"},
		// Only clients the operator marked as resource servers may read
		// other applications' tokens.
		{"introspect by a client that is no resource server", tokenCall{path: ep.introspect, form: url.Values{"token": {tok.str("access_token")}}, basic: conf}, 400, "unauthorized_client"},
		{"introspect by the gateway's exchange client", tokenCall{path: ep.introspect, form: url.Values{"token": {tok.str("access_token")}}, basic: [2]string{gwClient, gwSecret}}, 400, "unauthorized_client"},
		{"introspect unknown client", tokenCall{path: ep.introspect, form: url.Values{"token": {"x"}}, basic: [2]string{"ghost", "x"}}, 401, "invalid_client"},
		{"revoke no token", tokenCall{path: ep.revoke, form: url.Values{"client_id": {publicClient}}}, 400, "invalid_request"},
		{"revoke no client", tokenCall{path: ep.revoke, form: url.Values{"token": {tok.str("refresh_token")}}}, 401, "invalid_client"},
		{"revoke repeated token", tokenCall{path: ep.revoke, form: url.Values{"client_id": {publicClient}, "token": {"a", "b"}}}, 400, "invalid_request"},
		{"revoke malformed", tokenCall{path: ep.revoke, raw: "token=%zz&client_id=cli"}, 400, "invalid_request"},
		{"revoke wrong secret", tokenCall{path: ep.revoke, form: url.Values{"token": {"x"}}, basic: [2]string{confClient, "nope"}}, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.call)
			if r.status != tt.status || r.str("error") != tt.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
		})
	}
	// None of the refused revocations touched the token.
	if e.introspect(tok.str("access_token"))["active"] != true {
		t.Error("a refused request revoked the token")
	}

	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", ep.token, 405},
		{"PUT", ep.token, 405},
		{"GET", ep.introspect, 405},
		{"GET", ep.revoke, 405},
		{"GET", ep.register, 405},
		{"POST", ep.jwks, 405},
		{"DELETE", ep.authorize, 405},
		{"GET", ep.login, 405},
		{"GET", ep.consent, 405},
		{"POST", "/.well-known/oauth-authorization-server", 405},
		{"GET", ep.register + "/nope", 401},
		{"DELETE", ep.register + "/nope", 401},
		{"GET", "/nope", 404},
	} {
		req, _ := http.NewRequest(tt.method, e.url(tt.path), nil)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}

	// Pages: no CSRF token, wrong media type, oversized.
	b := e.browser()
	for _, tt := range []struct {
		path, body, ctype string
		want              int
	}{
		{ep.login, "username=a&password=b", "application/x-www-form-urlencoded", 403},
		{ep.consent, "decision=allow", "application/x-www-form-urlencoded", 403},
		{ep.logout, "", "application/x-www-form-urlencoded", 403},
		{ep.consentsRevoke, "client_id=cli", "application/x-www-form-urlencoded", 403},
		{ep.federationStart, "request=x", "application/x-www-form-urlencoded", 403},
		{ep.login, `{"username":"a"}`, "application/json", 400},
		{ep.consent, "x=" + strings.Repeat("a", maxFormBytes+1), "application/x-www-form-urlencoded", 400},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.url(tt.path), strings.NewReader(tt.body))
		req.Header.Set("Content-Type", tt.ctype)
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("POST %s (%s): %d, want %d", tt.path, tt.ctype, resp.StatusCode, tt.want)
		}
	}
	// The permissions page needs a session.
	resp, _ := b.Get(e.url(ep.consents))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("permissions page without a session: %d", resp.StatusCode)
	}
}
