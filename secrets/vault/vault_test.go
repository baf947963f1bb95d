package vault

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/secrets"
)

// server implements the documented endpoints mcpfort calls (Vault and
// OpenBao share them): POST /v1/auth/{kubernetes,approle}/login and
// GET /v1/{mount}/data/{path}?version=N of the KV v2 engine, answering 403
// without a valid token and 404 for unknown paths or versions.
type server struct {
	t         *testing.T
	mu        sync.Mutex
	namespace string
	tokens    map[string]bool
	logins    int
	versions  map[string][]map[string]any // path -> versions (1-based)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("X-Vault-Namespace") != s.namespace {
		http.Error(w, `{"errors":["no handler for route"]}`, http.StatusNotFound)
		return
	}
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == "/v1/auth/kubernetes/login" || r.URL.Path == "/v1/auth/approle/login"):
		var in map[string]string
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		ok := (in["role"] == "mcpfort" && in["jwt"] == "sa-jwt") || (in["role_id"] == "rid" && in["secret_id"] == "sid")
		if !ok {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		s.logins++
		tok := "hvs.token" + strings.Repeat("x", s.logins)
		s.tokens[tok] = true
		json.NewEncoder(w).Encode(map[string]any{"auth": map[string]any{"client_token": tok, "lease_duration": 3600, "renewable": true}})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/secret/data/"):
		if !s.tokens[r.Header.Get("X-Vault-Token")] {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		vs := s.versions[strings.TrimPrefix(r.URL.Path, "/v1/secret/data/")]
		n := len(vs)
		if q := r.URL.Query().Get("version"); q != "" {
			n = int(q[0] - '0')
		}
		if n < 1 || n > len(vs) {
			http.Error(w, `{"errors":[]}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"data": vs[n-1], "metadata": map[string]any{"version": n}}})
	default:
		http.Error(w, "", http.StatusNotFound)
	}
}

func newServer(t *testing.T, ns string) (*server, *httptest.Server) {
	s := &server{t: t, namespace: ns, tokens: map[string]bool{"static-token": true}, versions: map[string][]map[string]any{
		"mcpfort/db":  {{"password": "old"}, {"password": "new", "user": "app"}},
		"mcpfort/one": {{"token": "only"}},
	}}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func ref(t *testing.T, s string) secrets.Ref {
	r, err := secrets.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKubernetesAuthVersionsAndNamespace(t *testing.T) {
	srv, ts := newServer(t, "team-a")
	dir := t.TempDir()
	jwt := filepath.Join(dir, "token")
	os.WriteFile(jwt, []byte("sa-jwt\n"), 0o600)
	b, err := New(Options{Address: ts.URL, Namespace: "team-a", KubernetesRole: "mcpfort", KubernetesTokenFile: jwt})
	if err != nil {
		t.Fatal(err)
	}
	r := secrets.New(secrets.Options{Backends: map[string]secrets.Backend{"vault": b}, Allow: map[string][]string{"vault": {"secret/mcpfort/"}}})
	ctx := context.Background()
	for in, want := range map[string]string{
		"vault://secret/mcpfort/db#/password":           "new",
		"vault://secret/mcpfort/db?version=1#/password": "old",
		"vault://secret/mcpfort/one":                    "only",
	} {
		v, err := r.Fetch(ctx, ref(t, in))
		if err != nil || v.Reveal() != want {
			t.Errorf("%s = %q, %v; want %q", in, v.Reveal(), err, want)
		}
	}
	if srv.logins != 1 {
		t.Errorf("logins = %d, want 1 (token cached)", srv.logins)
	}
	// Two fields and no fragment: the operator must name one.
	if _, err := r.Fetch(ctx, ref(t, "vault://secret/mcpfort/db")); err == nil || !strings.Contains(err.Error(), "#/field") {
		t.Errorf("ambiguous secret: %v", err)
	}
	var se *StatusError
	if _, err := r.Fetch(ctx, ref(t, "vault://secret/mcpfort/db?version=9#/password")); !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("missing version: %v", err)
	}
	// A revoked token: the next read logs in again once.
	srv.mu.Lock()
	srv.tokens = map[string]bool{}
	srv.mu.Unlock()
	if v, err := r.Fetch(ctx, ref(t, "vault://secret/mcpfort/one")); err != nil || v.Reveal() != "only" {
		t.Fatalf("after revocation: %v", err)
	}
	if srv.logins != 2 {
		t.Errorf("logins = %d, want 2", srv.logins)
	}
}

func TestAppRoleAndTokenFile(t *testing.T) {
	_, ts := newServer(t, "")
	b, err := New(Options{Address: ts.URL, AppRoleID: "rid", AppRoleSecretID: func() string { return "sid" }})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Fetch(context.Background(), ref(t, "vault://secret/mcpfort/one")); err != nil || string(got) != "only" {
		t.Fatalf("approle: %q %v", got, err)
	}
	bad, _ := New(Options{Address: ts.URL, AppRoleID: "rid", AppRoleSecretID: func() string { return "wrong-" + "CANARY" }})
	_, err = bad.Fetch(context.Background(), ref(t, "vault://secret/mcpfort/one"))
	if err == nil || strings.Contains(err.Error(), "CANARY") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("bad secret id: %v", err)
	}
	tf := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tf, []byte("static-token\n"), 0o600)
	tb, _ := New(Options{Address: ts.URL, TokenFile: tf, Now: func() time.Time { return time.Unix(0, 0) }})
	if got, err := tb.Fetch(context.Background(), ref(t, "vault://secret/mcpfort/db#/x")); err != nil || !strings.Contains(string(got), `"user":"app"`) {
		t.Fatalf("token file: %q %v", got, err)
	}
	for _, o := range []Options{{Address: "vault:8200", TokenFile: "x"}, {Address: ts.URL}, {Address: ts.URL, TokenFile: "x", KubernetesRole: "r"}, {Address: ts.URL, AppRoleID: "r"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
