package gcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcpfort/mcpfort/secrets"
)

const subjectToken = "k8s-projected-service-account-token"

// TestExternalAccount runs workload identity federation over loopback: an
// external_account credentials file (as GKE-external Kubernetes or another
// cloud uses) names a subject token file and a token URL; the backend
// exchanges the subject token there (RFC 8693, as Google's STS does) and
// reads the secret with the access token it got.
func TestExternalAccount(t *testing.T) {
	var mu sync.Mutex
	exchanges := 0
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" || r.Form.Get("subject_token") != subjectToken ||
			r.Form.Get("audience") != "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s" {
			t.Errorf("sts: unexpected form %v", r.Form)
			http.Error(w, `{"error":"invalid_grant"}`, 400)
			return
		}
		mu.Lock()
		exchanges++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"federated-access-token","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}`)
	}))
	defer sts.Close()
	payload := []byte(`{"token":"gcp-secret-value"}`)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer federated-access-token" {
			http.Error(w, `{"error":{"code":401}}`, http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v1/projects/proj-1/secrets/upstream/versions/latest:access", "/v1/projects/proj-1/secrets/upstream/versions/7:access":
			crc := crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli))
			json.NewEncoder(w).Encode(map[string]any{"name": "projects/1/secrets/upstream/versions/7",
				"payload": map[string]string{"data": base64.StdEncoding.EncodeToString(payload), "dataCrc32c": fmt.Sprint(crc)}})
		case "/v1/projects/proj-1/secrets/corrupt/versions/latest:access":
			json.NewEncoder(w).Encode(map[string]any{"payload": map[string]string{"data": base64.StdEncoding.EncodeToString(payload), "dataCrc32c": "1"}})
		default:
			http.Error(w, `{"error":{"code":404}}`, 404)
		}
	}))
	defer api.Close()

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(subjectToken), 0o600)
	credFile := filepath.Join(dir, "credentials.json")
	cred, _ := json.Marshal(map[string]any{
		"type":               "external_account",
		"audience":           "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s",
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
		"token_url":          sts.URL + "/v1/token",
		"credential_source":  map[string]any{"file": tokenFile},
	})
	os.WriteFile(credFile, cred, 0o600)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", credFile)

	b, err := New(context.Background(), Options{Endpoint: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := secrets.New(secrets.Options{Backends: map[string]secrets.Backend{secrets.SchemeGCPSecrets: b}, Allow: map[string][]string{secrets.SchemeGCPSecrets: {"proj-1/"}}})
	ref := func(s string) secrets.Ref {
		r, err := secrets.ParseRef(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, in := range []string{"gcpsecrets://proj-1/upstream#/token", "gcpsecrets://proj-1/upstream?version=7#/token"} {
		v, err := r.Fetch(context.Background(), ref(in))
		if err != nil || v.Reveal() != "gcp-secret-value" {
			t.Errorf("%s = %q, %v", in, v.Reveal(), err)
		}
	}
	if _, err := r.Fetch(context.Background(), ref("gcpsecrets://proj-1/corrupt#/token")); err == nil || !strings.Contains(err.Error(), "CRC32C") {
		t.Errorf("corrupt payload: %v", err)
	}
	if _, err := r.Fetch(context.Background(), ref("gcpsecrets://proj-1/missing")); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing: %v", err)
	}
	if _, err := r.Fetch(context.Background(), ref("gcpsecrets://proj-2/upstream")); err == nil || !strings.Contains(err.Error(), "allow-list") {
		t.Errorf("other project: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if exchanges != 1 {
		t.Errorf("%d token exchanges, want 1 (the token is reused)", exchanges)
	}
}
