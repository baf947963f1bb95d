package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/internal/everything"
)

// forcedGateway fronts the conformance target (both eras) over HTTP with the
// upstream's era forced, so that every call of the other era crosses the
// bridge.
func forcedGateway(t *testing.T, era gateway.UpstreamEra) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(everythingHandler(t))
	t.Cleanup(up.Close)
	rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "everything", Upstream: rem, Keyring: kr, UpstreamEra: era})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	return ts
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestModernClientLegacyUpstreamErrors: through the bridge, a 2026-07-28
// client sees the versions, error codes and HTTP statuses a 2026-07-28
// server gives (streamable-http "Request Metadata"; basic/versioning), not
// the legacy upstream's: server/discover lists every version the gateway
// serves, and an UnsupportedProtocolVersionError lists no other; an
// unknown method (which the legacy upstream refuses with a bare HTTP 400)
// is -32601 with 404, a removed tasks method likewise; a missing client
// capability (-32021) is 400.
func TestModernClientLegacyUpstreamErrors(t *testing.T) {
	gw := forcedGateway(t, gateway.EraLegacy)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	resp := modernPost(t, ctx, gw.URL, "server/discover", "", "")
	var disc struct {
		Result struct {
			SupportedVersions []string `json:"supportedVersions"`
		} `json:"result"`
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || json.Unmarshal(body, &disc) != nil {
		t.Fatalf("server/discover: %d %s", resp.StatusCode, body)
	}
	if !slices.Contains(disc.Result.SupportedVersions, "2026-07-28") || !slices.Contains(disc.Result.SupportedVersions, "2025-11-25") {
		t.Fatalf("supportedVersions = %v", disc.Result.SupportedVersions)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL, stringsReader(`{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"v999","io.modelcontextprotocol/clientCapabilities":{}}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "v999")
	req.Header.Set("Mcp-Method", "server/discover")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	code, data := rpcError(t, body)
	var vdata struct{ Supported []string }
	_ = json.Unmarshal(data, &vdata)
	if resp.StatusCode != 400 || code != -32022 || len(vdata.Supported) == 0 {
		t.Fatalf("unsupported version: %d %s", resp.StatusCode, body)
	}
	for _, v := range vdata.Supported {
		if !slices.Contains(disc.Result.SupportedVersions, v) {
			t.Fatalf("the error lists %q, server/discover does not (%v)", v, disc.Result.SupportedVersions)
		}
	}

	for _, tc := range []struct {
		method, name, params string
		status               int
		code                 int64
	}{
		{"unknown/method", "", "", 404, -32601},
		{"tasks/list", "", "", 404, -32601},
		{"tasks/result", "", `"taskId":"t1"`, 404, -32601},
		{"tools/call", "test_missing_capability", `"name":"test_missing_capability","arguments":{}`, 400, -32021},
	} {
		resp := modernPost(t, ctx, gw.URL, tc.method, tc.name, tc.params)
		body := readAll(t, resp)
		if code, _ := rpcError(t, body); resp.StatusCode != tc.status || code != tc.code {
			t.Errorf("%s %s: HTTP %d code %d (%s), want HTTP %d code %d", tc.method, tc.name, resp.StatusCode, code, body, tc.status, tc.code)
		}
	}
	// An ordinary call still succeeds, as plain JSON.
	resp = modernPost(t, ctx, gw.URL, "tools/call", "echo", `"name":"echo","arguments":{"text":"hi"}`)
	if body := readAll(t, resp); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("echo: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
