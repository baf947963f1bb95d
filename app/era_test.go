package app_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// TestStdioForcedEraChecked: a stdio server forced to an era it does not
// speak is refused at start, with a message naming the server and the era
// (the reference TypeScript server-everything speaks only the 2025
// revisions); forced to the era it speaks, it starts.
func TestStdioForcedEraChecked(t *testing.T) {
	node, dir := nodeDeps(t)
	entry := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
	load := func(era string) *config.Config {
		p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
servers:
  - name: tsever
    path: /mcp
    era: %s
    stdio: {command: [%q, %q, stdio]}
`, era, node, entry))
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	_, err := app.New(load("modern"), app.Options{Version: "test"})
	if err == nil {
		t.Fatal("a legacy-only stdio server forced to era: modern started")
	}
	t.Log(err)
	for _, want := range []string{`server "tsever"`, "era: modern", "2026-07-28"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
	_, stop := start(t, load("legacy"))
	stop()
}
