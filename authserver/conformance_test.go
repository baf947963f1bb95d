package authserver

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConformanceAuthorization runs the official MCP conformance suite's
// authorization-server scenarios (@modelcontextprotocol/conformance
// 0.2.0-alpha, "authorization" command) against the server. The suite is
// interactive: it prints an authorization URL and waits for the browser to
// come back to its callback server. This test plays the browser on the
// real sign-in and consent pages and delivers the callback.
//
// It uses the suite and Node 22 the repository pins for its other
// conformance runs (conformance/ and scripts/node22.sh) and skips when
// they are not installed.
func TestConformanceAuthorization(t *testing.T) {
	root, _ := filepath.Abs("..")
	suite := filepath.Join(root, "conformance", "node_modules", "conformance-0.2", "dist", "index.js")
	node := filepath.Join(root, ".cache", "node22", "node-v22.22.0", "bin", "node")
	for _, p := range []string{suite, node} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s is not installed (scripts/conformance.sh installs it)", p)
		}
	}
	e := newEnv(t, func(o *Options) {
		o.Clients = append(o.Clients, StaticClient{ID: "conformance", Name: "Conformance suite", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, suite, "authorization", "--url", e.srv.issuer, "--client-id", "conformance",
		"-p", strconv.Itoa(port), "-o", out)
	cmd.Dir = out
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	reURL := regexp.MustCompile(`https?://\S+/authorize\?\S+`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		m := reURL.FindString(line)
		if m == "" {
			continue
		}
		b := e.browser()
		final := e.authorizeURL(b, m)
		// The suite's callback server is the client's redirect URI.
		resp, err := http.Get(final)
		if err != nil {
			t.Fatalf("callback: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("conformance suite failed: %v\n%s", err, log.String())
	}
	// The suite's own summary is printed only on failure.
	defer func() {
		if t.Failed() {
			t.Logf("conformance output:\n%s", log.String())
		}
	}()
	// Every check of every scenario passed (warnings are reported too).
	files, _ := filepath.Glob(filepath.Join(out, "*", "checks.json"))
	if len(files) == 0 {
		t.Fatal("no results written")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(b, &checks); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range checks {
			if c.Status != "SUCCESS" && c.Status != "INFO" {
				t.Errorf("%s: %s %s", filepath.Base(filepath.Dir(f)), c.ID, c.Status)
			}
		}
	}
}
