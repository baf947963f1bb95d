package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets/fake"

	"github.com/mcpfort/mcpfort/secrets"
)

func ref(t *testing.T, s string) secrets.Ref {
	r, err := secrets.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFakeServer drives the backend through the SDK's own fake Key Vault
// server: versions, JSON pointers, a missing secret.
func TestFakeServer(t *testing.T) {
	srv := fake.Server{
		GetSecret: func(_ context.Context, name, version string, _ *azsecrets.GetSecretOptions) (resp azfake.Responder[azsecrets.GetSecretResponse], errResp azfake.ErrorResponder) {
			vals := map[string]string{"api-key/": `{"key":"latest"}`, "api-key/v1": `{"key":"first"}`, "plain/": "plain-value"}
			v, ok := vals[name+"/"+version]
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "SecretNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, azsecrets.GetSecretResponse{Secret: azsecrets.Secret{Value: &v}}, nil)
			return
		},
	}
	b := newBackend(&azfake.TokenCredential{}, azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: fake.NewServerTransport(&srv)}})
	r := secrets.New(secrets.Options{Backends: map[string]secrets.Backend{secrets.SchemeAzureKeyVault: b}, Allow: map[string][]string{secrets.SchemeAzureKeyVault: {"kv1/"}}})
	for in, want := range map[string]string{"azurekeyvault://kv1/api-key#/key": "latest", "azurekeyvault://kv1/api-key/v1#/key": "first", "azurekeyvault://kv1/plain": "plain-value"} {
		v, err := r.Fetch(context.Background(), ref(t, in))
		if err != nil || v.Reveal() != want {
			t.Errorf("%s = %q, %v; want %q", in, v.Reveal(), err, want)
		}
	}
	_, err := r.Fetch(context.Background(), ref(t, "azurekeyvault://kv1/missing"))
	if err == nil || !strings.Contains(err.Error(), "SecretNotFound") || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing: %v", err)
	}
}

type staticCredential struct {
	mu     sync.Mutex
	scopes []string
}

func (c *staticCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.scopes = append(c.scopes, o.Scopes...)
	c.mu.Unlock()
	return azcore.AccessToken{Token: "entra-access-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestChallengeFlow is the Key Vault protocol at the HTTP level: the
// client's first request carries no token and is answered 401 with a
// Bearer challenge naming the authority and resource; the client then gets
// a token for that resource's scope and repeats the request with it. The
// vault's host name (kv1.vault.azure.net) is dialed to a loopback TLS
// server, so the SDK's check that the challenge resource matches the
// vault's domain runs as it does against Azure.
func TestChallengeFlow(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.Host+r.URL.Path+" auth="+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer entra-access-token" {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001", resource="https://vault.azure.net"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/secrets/upstream-token/" || r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"value": "kv-secret", "id": "https://kv1.vault.azure.net/secrets/upstream-token/abc"})
	}))
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	addr := ts.Listener.Addr().String()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}
	cred := &staticCredential{}
	b := newBackend(cred, azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: client}})
	got, err := b.Fetch(context.Background(), ref(t, "azurekeyvault://kv1/upstream-token"))
	if err != nil || string(got) != "kv-secret" {
		t.Fatalf("fetch = %q, %v\n%v", got, err, seen)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || !strings.HasSuffix(seen[0], "auth=") || !strings.HasPrefix(seen[0], "GET kv1.vault.azure.net/secrets/upstream-token/") || !strings.HasSuffix(seen[1], "auth=Bearer entra-access-token") {
		t.Fatalf("requests: %q", seen)
	}
	if len(cred.scopes) == 0 || cred.scopes[0] != "https://vault.azure.net/.default" {
		t.Fatalf("token scopes %v", cred.scopes)
	}
	// A challenge for another resource is refused: a vault cannot send
	// the client's token elsewhere.
	evil := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/t", resource="https://attacker.example"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer evil.Close()
	addr = evil.Listener.Addr().String()
	pool.AddCert(evil.Certificate())
	b2 := newBackend(&staticCredential{}, azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: client}})
	if _, err := b2.Fetch(context.Background(), ref(t, "azurekeyvault://kv2/x")); err == nil {
		t.Fatal("a challenge for another resource was followed")
	}
}
