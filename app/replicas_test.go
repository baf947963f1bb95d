package app_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/config"
)

// TestReplicasShareDeletion: two replicas with the same session secret and
// one Redis; a session deleted through one is gone on the other.
func TestReplicasShareDeletion(t *testing.T) {
	t.Setenv("MCPFORT_TEST_SESSION_SECRET", strings.Repeat("k", 40))
	var bases []string
	for i := 0; i < 2; i++ {
		p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
state: {redis: "redis://127.0.0.1:6379/0"}
sessions: {secrets: [{env: MCPFORT_TEST_SESSION_SECRET}]}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q], isolation: shared}
`, filepath.Join(binDir, "mcpfort-everything")))
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		base, stop := start(t, cfg)
		defer stop()
		bases = append(bases, base+"/mcp")
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
