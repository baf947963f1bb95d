package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/app"
)

// TestSecretBackendsOfThisBuild runs check-config on a configuration that
// names a cloud secret backend: the full build accepts it, the slim build
// (tag mcpfort_nocloud) refuses it with a message naming the build, and
// both resolve env: references.
func TestSecretBackendsOfThisBuild(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcpfort.yaml")
	body := `
listen: 127.0.0.1:0
state: {dir: ` + dir + `}
secrets:
  awssecrets: {region: us-east-1, allow: [mcpfort/]}
servers:
  - name: remote
    path: /mcp
    http:
      url: http://127.0.0.1:9/mcp
      bearer_token: "env:MCPFORT_TEST_BUILD_TOKEN"
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "mcpfort"), "check-config", "--resolve-secrets", cfg)
	cmd.Env = append(os.Environ(), "MCPFORT_TEST_BUILD_TOKEN=t0ken-of-this-build", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "t0ken-of-this-build") {
		t.Fatalf("check-config printed a secret value:\n%s", out)
	}
	if app.CloudSecrets {
		if err != nil || !strings.Contains(string(out), "servers[0].http.bearer_token: env:MCPFORT_TEST_BUILD_TOKEN: ok") {
			t.Fatalf("full build: %v\n%s", err, out)
		}
		return
	}
	if err == nil || !strings.Contains(string(out), "built without the AWS, Azure and Google backends") {
		t.Fatalf("slim build accepted a cloud backend: %v\n%s", err, out)
	}
	os.WriteFile(cfg, []byte(strings.Replace(body, "  awssecrets: {region: us-east-1, allow: [mcpfort/]}\n", "  env: {allow: [MCPFORT_TEST_BUILD_TOKEN]}\n", 1)), 0o600)
	cmd = exec.Command(filepath.Join(binDir, "mcpfort"), "check-config", "--resolve-secrets", cfg)
	cmd.Env = append(os.Environ(), "MCPFORT_TEST_BUILD_TOKEN=t0ken-of-this-build")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "servers[0].http.bearer_token: env:MCPFORT_TEST_BUILD_TOKEN: ok") {
		t.Fatalf("slim build with env: references: %v\n%s", err, out)
	}
}
