package app_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcpfort/mcpfort/config"
)

// startReplicas starts n gateways that share a session secret (a fresh
// one per call, in MCPFORT_TEST_SESSION_SECRET), each configured with its
// own listen address, log level error, that secret, and tail; "{self}" in
// tail is the replica's own base URL (for state.replica_url). stops[i]
// stops replica i at most once; every replica stops when the test ends.
func startReplicas(t *testing.T, n int, tail string) (bases []string, stops []func()) {
	t.Helper()
	t.Setenv("MCPFORT_TEST_SESSION_SECRET", rand.Text()+rand.Text()) // 52 characters
	for i := 0; i < n; i++ {
		port := freePort(t)
		self := fmt.Sprintf("http://127.0.0.1:%d", port)
		p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
sessions: {secrets: [{env: MCPFORT_TEST_SESSION_SECRET}]}
`, port)+strings.ReplaceAll(tail, "{self}", self))
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		base, stop := start(t, cfg)
		bases = append(bases, base)
		stops = append(stops, sync.OnceFunc(stop))
		t.Cleanup(stops[i])
	}
	return bases, stops
}

// TestReplicasShareDeletion: two replicas with the same session secret and
// one Redis; a session deleted through one is gone on the other.
func TestReplicasShareDeletion(t *testing.T) {
	bases, _ := startReplicas(t, 2, fmt.Sprintf(`state: {redis: "redis://127.0.0.1:6379/0"}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q], isolation: shared}
`, filepath.Join(binDir, "mcpfort-everything")))
	for i := range bases {
		bases[i] += "/mcp"
	}
	resp := rawPost(t, bases[0], "", initBody, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}
	ping := `{"jsonrpc":"2.0","id":3,"method":"ping"}`
	for _, b := range bases {
		r := rawPost(t, b, "", ping, hdr)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("ping on %s: %d", b, r.StatusCode)
		}
	}
	del, _ := http.NewRequest("DELETE", bases[1], nil)
	del.Header.Set("Mcp-Session-Id", sid)
	r, err := http.DefaultClient.Do(del)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("DELETE: %v %v", r, err)
	}
	r.Body.Close()
	r = rawPost(t, bases[0], "", ping, hdr)
	r.Body.Close()
	if r.StatusCode != 404 {
		t.Fatalf("ping on the other replica after DELETE: %d, want 404", r.StatusCode)
	}
}
