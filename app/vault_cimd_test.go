package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestVaultClientMetadataDocument: with user_oauth.client_metadata_url
// the gateway (A) is, at the upstream's authorization server (B), the
// client its metadata document describes (draft-ietf-oauth-client-id-
// metadata-document): B fetches the document over https, checks the
// redirect URI against it, and the grant works and refreshes for that
// public client. The document is the operator's to host (mcpfort does
// not serve one); here a loopback TLS server does. A document whose
// redirect_uris do not name A's callback gets no code: B refuses the
// authorization request and no grant is stored.
func TestVaultClientMetadataDocument(t *testing.T) {
	var mu sync.Mutex
	fetched := map[string]int{}
	e := &vaultEnv{}
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		self := "https://" + r.Host + r.URL.Path
		redirect := e.a + "/oauth/connect/callback"
		if strings.HasSuffix(r.URL.Path, "/bad.json") {
			redirect = "https://attacker.example/oauth/connect/callback"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": self, "client_name": "Gateway A",
			"redirect_uris": []string{redirect}, "grant_types": []string{"authorization_code", "refresh_token"},
			"response_types": []string{"code"}, "token_endpoint_auth_method": "none"})
	}))
	t.Cleanup(docs.Close)
	e.cimd, e.cimdBad = docs.URL+"/gateway/client.json", docs.URL+"/gateway/bad.json"
	e.cimdRoots = docs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	newVaultEnvWith(t, e)
	alice, _ := userToken(t, e.a, "alice", "")

	// The flow: the authorization request names the document's URL as
	// client_id; B fetches it; the code is redeemed without a secret.
	var clientIDs []string
	cs, err := e.client(t, alice, "2026-07-28", func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		b := newBrowserAt(req.Params.URL, "alice", "carol")
		b.stopAt = func(u *url.URL) bool {
			if strings.HasPrefix(u.String(), e.b+"/authorize") {
				clientIDs = append(clientIDs, u.Query().Get("client_id"))
			}
			return false
		}
		if status, body, _, err := b.open(req.Params.URL); err != nil || status != http.StatusOK || !strings.Contains(body, "Connected") {
			return nil, fmt.Errorf("connect: %d %v %.300s", status, err, body)
		}
		return &mcp.ElicitResult{Action: "accept"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	echo(t, cs, "cimd-hello")
	if len(clientIDs) != 1 || clientIDs[0] != e.cimd {
		t.Fatalf("client_id at B's authorization endpoint: %q, want %q", clientIDs, e.cimd)
	}
	mu.Lock()
	n := fetched["/gateway/client.json"]
	mu.Unlock()
	if n == 0 {
		t.Fatal("B never fetched the metadata document")
	}
	// Refresh as the same public client.
	first := e.upstreamAuths()
	time.Sleep(5500 * time.Millisecond)
	echo(t, cs, "cimd-refreshed")
	if last := e.upstreamAuths(); last[len(last)-1] == first[len(first)-1] {
		t.Fatal("not refreshed")
	}

	// The hostile document: B fetches it, finds A's callback missing
	// from its redirect_uris, and shows an error instead of redirecting.
	before := len(e.upstreamAuths())
	alice, _ = userTokenFor(t, e.a, "alice", "", e.a+"/vaultbad/mcp")
	c := mcp.NewClient(&mcp.Implementation{Name: "vault-test", Version: "1"}, nil)
	hc := &http.Client{Transport: &recordingTransport{e: e, token: alice}}
	bad, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: e.a + "/vaultbad/mcp", HTTPClient: hc, DisableStandaloneSSE: true},
		&mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	res, err := bad.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
	reBad := regexp.MustCompile(`http://127\.0\.0\.1:\d+/oauth/connect/vaultbad\?ticket=[A-Za-z0-9_-]+`)
	if err != nil || !res.IsError || len(res.Content) == 0 || !reBad.MatchString(res.Content[0].(*mcp.TextContent).Text) {
		t.Fatalf("vaultbad without a grant: %+v %v", res, err)
	}
	badLink := reBad.FindString(res.Content[0].(*mcp.TextContent).Text)
	b := newBrowserAt(badLink, "alice", "carol")
	var reachedCallback bool
	b.stopAt = func(u *url.URL) bool {
		reachedCallback = reachedCallback || strings.HasPrefix(u.String(), e.a+"/oauth/connect/callback") || strings.HasPrefix(u.Host, "attacker.example")
		return reachedCallback
	}
	status, body, _, err := b.open(badLink)
	if err != nil || reachedCallback || status != http.StatusBadRequest || !strings.Contains(body, "redirect URI") {
		t.Fatalf("hostile document: %d %v callback reached %v %.300s", status, err, reachedCallback, body)
	}
	mu.Lock()
	n = fetched["/gateway/bad.json"]
	mu.Unlock()
	if n == 0 {
		t.Fatal("B never fetched the hostile document: the refusal is not its redirect URI's")
	}
	req, _ := http.NewRequest(http.MethodGet, e.a+"/oauth/connections/vaultbad", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"connected":false`) {
		t.Fatalf("a grant was stored for the hostile document: %s", raw)
	}
	if after := len(e.upstreamAuths()); after != before {
		t.Fatalf("%d requests reached the upstream on the hostile route", after-before)
	}
}
