package resourceserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// introspectionAS is a real RFC 7662 endpoint on loopback answering from a
// table, checking client authentication as an AS must.
type introspectionAS struct {
	srv      *httptest.Server
	id       string
	secret   string
	answers  map[string]string // token -> raw JSON response
	calls    atomic.Int64
	lastForm url.Values
}

func newIntrospectionAS(t *testing.T, id, secret string) *introspectionAS {
	t.Helper()
	as := &introspectionAS{id: id, secret: secret, answers: map[string]string{}}
	as.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as.calls.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		as.lastForm = r.PostForm
		// client_secret_basic with RFC 6749 §2.3.1 form-encoding, or
		// client_secret_post.
		id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if u, p, ok := r.BasicAuth(); ok {
			id, _ = url.QueryUnescape(u)
			secret, _ = url.QueryUnescape(p)
		}
		if id != as.id || secret != as.secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		resp, ok := as.answers[r.PostForm.Get("token")]
		if !ok {
			resp = `{"active":false}`
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(resp, "status:") {
			code := 0
			fmt.Sscanf(resp, "status:%d", &code)
			w.WriteHeader(code)
			return
		}
		_, _ = io.WriteString(w, resp)
	}))
	t.Cleanup(as.srv.Close)
	return as
}

func TestIntrospection(t *testing.T) {
	clk := newClock()
	now := clk.Now().Unix()
	const secret = "s3cr:et+%/"
	as := newIntrospectionAS(t, "rs client", secret)
	good := fmt.Sprintf(`{"active":true,"iss":"https://as.example","sub":"u1","client_id":"c1","aud":%q,"scope":"mcp:tools","exp":%d,"iat":%d,"jti":"j","token_type":"Bearer"}`, testAud, now+300, now)
	as.answers = map[string]string{
		"good":          good,
		"inactive":      `{"active":false}`,
		"inactive-junk": `{"active":false,"sub":1}`,
		"wrong-aud":     fmt.Sprintf(`{"active":true,"sub":"u1","aud":"https://other.example/mcp","exp":%d}`, now+300),
		"no-aud":        fmt.Sprintf(`{"active":true,"sub":"u1","exp":%d}`, now+300),
		"aud-array":     fmt.Sprintf(`{"active":true,"sub":"u1","aud":["x",%q],"exp":%d}`, testAud, now+300),
		"expired":       fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"exp":%d}`, testAud, now-300),
		"not-yet":       fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"nbf":%d}`, testAud, now+300),
		"refresh":       fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"token_type":"refresh_token"}`, testAud),
		"wrong-iss":     fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"iss":"https://evil.example"}`, testAud),
		"nobody":        fmt.Sprintf(`{"active":true,"aud":%q}`, testAud),
		"no-active":     `{"sub":"u1"}`,
		"active-string": `{"active":"true"}`,
		"dup-active":    `{"active":false,"active":true}`,
		"not-json":      `<html>`,
		"server-error":  "status:500",
		"redirect":      "status:302",
	}
	newV := func(mod func(*IntrospectionOptions)) *IntrospectionVerifier {
		opts := IntrospectionOptions{
			Issuer:       "https://as.example",
			Endpoint:     as.srv.URL,
			ClientID:     "rs client",
			ClientSecret: secret,
			Audiences:    []string{testAud},
			Now:          clk.Now,
		}
		if mod != nil {
			mod(&opts)
		}
		v, err := NewIntrospectionVerifier(opts)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := newV(nil)
	tests := []struct {
		token   string
		wantErr error
	}{
		{"good", nil},
		{"aud-array", nil},
		{"inactive", ErrInvalidToken},
		{"inactive-junk", ErrInvalidToken},
		{"unknown", ErrInvalidToken},
		{"wrong-aud", ErrInvalidToken},
		{"no-aud", ErrInvalidToken},
		{"expired", ErrInvalidToken},
		{"not-yet", ErrInvalidToken},
		{"refresh", ErrInvalidToken},
		{"wrong-iss", ErrInvalidToken},
		{"nobody", ErrInvalidToken},
		{"no-active", ErrUnavailable},
		{"active-string", ErrUnavailable},
		{"dup-active", ErrUnavailable},
		{"not-json", ErrUnavailable},
		{"server-error", ErrUnavailable},
		{"redirect", ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if p.Subject != "u1" || !p.HasAudience(testAud) {
					t.Errorf("principal %+v", p)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("principal", func(t *testing.T) {
		p, err := v.Verify(context.Background(), "good")
		if err != nil {
			t.Fatal(err)
		}
		want := &Principal{
			Issuer: "https://as.example", Subject: "u1", ClientID: "c1",
			Scopes: []string{"mcp:tools"}, Audience: []string{testAud},
			Expiry: time.Unix(now+300, 0), IssuedAt: time.Unix(now, 0), TokenID: "j",
		}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := as.lastForm.Get("token_type_hint"); got != "access_token" {
			t.Errorf("token_type_hint %q", got)
		}
	})
	t.Run("missing aud allowed by name", func(t *testing.T) {
		v := newV(func(o *IntrospectionOptions) { o.InsecureAllowMissingAudience = true })
		if _, err := v.Verify(context.Background(), "no-aud"); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), "wrong-aud"); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("a wrong aud is still refused: %v", err)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		v := newV(func(o *IntrospectionOptions) { o.AuthMethod = ClientSecretPost })
		if _, err := v.Verify(context.Background(), "good"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		var logs bytes.Buffer
		v := newV(func(o *IntrospectionOptions) {
			o.ClientSecret = "nope"
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		if _, err := v.Verify(context.Background(), "good-token-value"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		hasNoToken(t, "log", logs.String(), "good-token-value")
		hasNoToken(t, "log", logs.String(), "nope")
	})
	t.Run("discovered endpoint", func(t *testing.T) {
		ti := newTestIssuer(t, "")
		// The test issuer's metadata points at its own /introspect, which
		// does not exist: discovery works, the call fails as unavailable.
		v, err := NewIntrospectionVerifier(IntrospectionOptions{
			Issuer: ti.issuer, ClientID: "a", ClientSecret: "b", Audiences: []string{testAud},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), "x"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
		if ep, _ := v.endpointURL(context.Background()); ep != ti.srv.URL+"/introspect" {
			t.Errorf("endpoint %q", ep)
		}
	})
}

func TestSecretRedaction(t *testing.T) {
	opts := IntrospectionOptions{ClientID: "id", ClientSecret: "hunter2"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("opts", "opts", opts, "secret", opts.ClientSecret)
	out := fmt.Sprintf("%v %+v %#v %s", opts, opts, opts, opts.ClientSecret) + logs.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("secret printed: %s", out)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("id:hunter2"))
	if strings.Contains(out, basic) {
		t.Error("encoded secret printed")
	}
}

func FuzzParseIntrospection(f *testing.F) {
	f.Add(`{"active":true,"sub":"u","aud":["a"],"exp":1,"scope":"a b","token_type":"Bearer"}`)
	f.Add(`{"active":false}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, body string) {
		ir, err := parseIntrospection([]byte(body))
		if err != nil {
			return
		}
		for _, s := range ir.scopes {
			if !validScopeToken(s) {
				t.Errorf("invalid scope %q accepted", s)
			}
		}
	})
}

// TestIntrospectionDPoP: an introspected DPoP-bound token (RFC 9449 §6.2)
// carries its cnf.jkt into the principal, so the middleware demands the
// proof; token_type DPoP without cnf.jkt is refused.
func TestIntrospectionDPoP(t *testing.T) {
	clk := newClock()
	now := clk.Now().Unix()
	as := newIntrospectionAS(t, "rs", "secret")
	as.answers = map[string]string{
		"bound":    fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"exp":%d,"token_type":"DPoP","cnf":{"jkt":"abc"}}`, testAud, now+300),
		"no-cnf":   fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"exp":%d,"token_type":"DPoP"}`, testAud, now+300),
		"cnf-only": fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"exp":%d,"cnf":{"jkt":"abc"}}`, testAud, now+300),
	}
	v, err := NewIntrospectionVerifier(IntrospectionOptions{Issuer: "https://as.example", Endpoint: as.srv.URL, ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{testAud}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"bound", "cnf-only"} {
		if p, err := v.Verify(t.Context(), tok); err != nil || p.JKT != "abc" {
			t.Errorf("%s: %v %+v", tok, err, p)
		}
	}
	if _, err := v.Verify(t.Context(), "no-cnf"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("DPoP without cnf: %v", err)
	}
}

// TestIntrospectionSecretSource: with ClientSecretSource, each request
// authenticates with the secret the source returns then, by Basic and by
// form, so a rotated secret is used at once.
func TestIntrospectionSecretSource(t *testing.T) {
	clk := newClock()
	as := newIntrospectionAS(t, "rs", "first:secret")
	as.answers = map[string]string{"good": fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"exp":%d}`, testAud, clk.Now().Unix()+300)}
	var cur atomic.Value
	cur.Store(Secret("first:secret"))
	for _, method := range []string{ClientSecretBasic, ClientSecretPost} {
		cur.Store(Secret("first:secret"))
		as.secret = "first:secret"
		v, err := NewIntrospectionVerifier(IntrospectionOptions{Endpoint: as.srv.URL, ClientID: "rs", AuthMethod: method,
			ClientSecretSource: func() Secret { return cur.Load().(Secret) }, Audiences: []string{testAud}, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), "good"); err != nil {
			t.Fatalf("%s, first secret: %v", method, err)
		}
		as.secret = "second+secret"
		cur.Store(Secret("second+secret"))
		if _, err := v.Verify(context.Background(), "good"); err != nil {
			t.Fatalf("%s, rotated secret: %v", method, err)
		}
	}
}
