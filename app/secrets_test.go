package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Every secret value of this test contains the canary; no output of the
// run may.
const canary = "CANARY-b81d4f"

// TestSecretReferencesEndToEnd runs the mcpfort binary with secrets from
// a file (rotated while calls flow), the environment and a Vault KV v2
// endpoint (loopback, token file auth), and checks that:
//   - the upstream gets the bearer token of the file, and the rotated one
//     within one file check interval, while no call fails;
//   - a local server's environment gets the value from Vault;
//   - a reference that cannot be resolved stops the start, naming the
//     field and the reference;
//   - check-config --resolve-secrets reports each reference;
//   - no output of any of it (logs at debug level, errors, check-config,
//     client answers) holds a secret value.
func TestSecretReferencesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tokenV1, tokenV2 := canary+"-upstream-token-one", canary+"-upstream-token-two"
	var v2Seen atomic.Int64 // unix nanos of the first request with tokenV2
	v2 := make(chan struct{})
	var v2Once sync.Once
	var upstreamRefused atomic.Int64

	srv := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Like a provider during a rotation, the old token is still good
		// while the new one is rolled out.
		switch r.Header.Get("Authorization") {
		case "Bearer " + tokenV1:
		case "Bearer " + tokenV2:
			if v2Seen.CompareAndSwap(0, time.Now().UnixNano()) {
				v2Once.Do(func() { close(v2) })
			}
		default:
			upstreamRefused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	defer upstream.Close()

	vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != "vault-token" || r.URL.Path != "/v1/secret/data/mcpfort/stdio" {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"data": map[string]string{"api_key": canary + "-stdio-key"}}})
	}))
	defer vault.Close()

	write := func(name, body string) {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("upstream.json", `{"token":"`+tokenV1+`"}`)
	write("vault-token", "vault-token\n")
	envFile := filepath.Join(dir, "child-env")
	const interval = 300 * time.Millisecond
	// Traces and metrics are outputs too: every span exported and the
	// metrics page are searched for the canary.
	var spans lockedBuffer
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		spans.Write(b)
	}))
	defer collector.Close()
	metricsPort := freePort(t)
	cfgText := fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: debug, format: json}
state: {dir: %q}
secrets:
  file_check_interval: %s
  refresh_interval: 1s
  file: {allow: [%q]}
  vault:
    address: %s
    auth: {token_file: vault-token}
    allow: [secret/mcpfort/]
sessions:
  secrets: ["env:MCPFORT_TEST_SESSION_SECRET"]
observability:
  tracing: {enabled: true, endpoint: %q, protocol: http/protobuf, sample_ratio: 1}
  metrics: {listen: "127.0.0.1:%d"}
servers:
  - name: remote
    path: /remote/mcp
    http:
      url: %s
      bearer_token: "file:upstream.json#/token"
  - name: local
    path: /local/mcp
    stdio:
      command: [/bin/sh, -c, 'printf %%s "$API_KEY" > %s; exec %s']
      env:
        API_KEY: "vault://secret/mcpfort/stdio#/api_key"
        PLAIN: literal
`, dir, interval, dir+"/", vault.URL, collector.URL, metricsPort, upstream.URL, envFile, filepath.Join(binDir, "mcpfort-everything"))
	cfgPath := filepath.Join(dir, "mcpfort.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "MCPFORT_TEST_SESSION_SECRET="+canary+"-session-secret-of-at-least-32-bytes")
	var outputs []string // every output of the run, checked at the end

	// check-config --resolve-secrets.
	cc := exec.Command(filepath.Join(binDir, "mcpfort"), "check-config", "--resolve-secrets", cfgPath)
	cc.Env = env
	out, err := cc.CombinedOutput()
	outputs = append(outputs, string(out))
	if err != nil || !strings.Contains(string(out), "servers[0].http.bearer_token: file:upstream.json#/token: ok") ||
		!strings.Contains(string(out), "3 secret reference(s) resolved") {
		t.Fatalf("check-config --resolve-secrets: %v\n%s", err, out)
	}
	// A reference that fails: check-config reports it, serve stops.
	bad := strings.Replace(cfgText, "vault://secret/mcpfort/stdio#/api_key", "vault://secret/mcpfort/missing#/api_key", 1)
	badPath := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badPath, []byte(bad), 0o600)
	cc = exec.Command(filepath.Join(binDir, "mcpfort"), "check-config", "--resolve-secrets", badPath)
	cc.Env = env
	out, err = cc.CombinedOutput()
	outputs = append(outputs, string(out))
	if err == nil || !strings.Contains(string(out), "servers[1].stdio.env.API_KEY: vault://secret/mcpfort/missing#/api_key: FAILED") {
		t.Fatalf("check-config with a failing reference: %v\n%s", err, out)
	}
	sv := exec.Command(filepath.Join(binDir, "mcpfort"), "serve", "--config", badPath)
	sv.Env = env
	out, err = sv.CombinedOutput()
	outputs = append(outputs, string(out))
	if err == nil || !strings.Contains(string(out), "servers[1].stdio.env.API_KEY: vault://secret/mcpfort/missing#/api_key") {
		t.Fatalf("serve with a failing reference: %v\n%s", err, out)
	}

	// The gateway itself.
	var stdout, stderr lockedBuffer
	cmd := exec.Command(filepath.Join(binDir, "mcpfort"), "serve", "--config", cfgPath)
	cmd.Env = env
	cmd.Stdout = &stdout
	pr, pw, _ := os.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	addr := make(chan string, 1)
	refreshFailed := make(chan struct{})
	var failedOnce sync.Once
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			stderr.Write([]byte(line + "\n"))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil {
				switch rec.Msg {
				case "mcpfort listening":
					addr <- rec.Addr
				case "secret refresh failed; the last good value stays in use":
					failedOnce.Do(func() { close(refreshFailed) })
				}
			}
		}
	}()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(time.Minute):
		t.Fatalf("no listening line:\n%s", stderr.String())
	}

	ctx := context.Background()
	connect := func(path string) *mcp.ClientSession {
		c := mcp.NewClient(&mcp.Implementation{Name: "secrets-test", Version: "1"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + path, DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatalf("connect %s: %v", path, err)
		}
		return cs
	}
	var answers lockedBuffer
	call := func(cs *mcp.ClientSession, tool string, args map[string]any) error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			return err
		}
		b, _ := json.Marshal(res)
		answers.Write(b)
		if res.IsError {
			return fmt.Errorf("tool error: %s", b)
		}
		return nil
	}
	local := connect("/local/mcp")
	if err := call(local, "echo", map[string]any{"text": "hi"}); err != nil {
		t.Fatalf("local call: %v", err)
	}
	if got, _ := os.ReadFile(envFile); string(got) != canary+"-stdio-key" {
		t.Fatalf("the local server's API_KEY is %q", got)
	}
	local.Close()

	// Calls flow from four goroutines sharing one client (request ids are
	// the client's) while the token file is rotated.
	stop := make(chan struct{})
	var failures, calls atomic.Int64
	progress := make(chan struct{}, 1)
	waitCalls := func(n int64) {
		for calls.Load() < n {
			<-progress
		}
	}
	var wg sync.WaitGroup
	cs := connect("/remote/mcp")
	defer cs.Close()
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				calls.Add(1)
				if err := call(cs, "echo", map[string]any{"text": fmt.Sprint("call ", i)}); err != nil {
					failures.Add(1)
					t.Errorf("call failed: %v", err)
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	waitCalls(20)
	write("upstream.json", `{"token":"`+tokenV2+`"}`)
	rotatedAt := time.Now()
	select {
	case <-v2:
	case <-time.After(10 * time.Second):
		t.Fatalf("the rotated token never reached the upstream\n%s", stderr.String())
	}
	seenAfter := time.Duration(v2Seen.Load() - rotatedAt.UnixNano())
	waitCalls(calls.Load() + 20)
	close(stop)
	wg.Wait()
	t.Logf("%d calls, %d failed; the rotated token reached the upstream %v after the file changed (file_check_interval %v)", calls.Load(), failures.Load(), seenAfter, interval)
	if failures.Load() != 0 || upstreamRefused.Load() != 0 {
		t.Fatalf("%d calls failed, %d upstream requests refused", failures.Load(), upstreamRefused.Load())
	}
	// One interval, plus a quarter for the check's granularity and
	// slack for a loaded machine.
	if seenAfter > interval+interval/2 {
		t.Errorf("the rotated token took %v, more than one interval (%v)", seenAfter, interval)
	}

	// A refresh that fails keeps the last value and says so (without it).
	write("upstream.json", `not json `+canary)
	select {
	case <-refreshFailed:
	case <-time.After(10 * time.Second):
		t.Errorf("a failed refresh was not logged")
	}
	mresp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	metricsPage, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(metricsPage), "mcpfort_requests") {
		t.Errorf("the metrics page has no request counts:\n%.500s", metricsPage)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve: %v", err)
	}
	if spans.String() == "" {
		t.Error("no spans were exported")
	}
	outputs = append(outputs, stdout.String(), stderr.String(), answers.String(), string(metricsPage), spans.String())
	for i, o := range outputs {
		if strings.Contains(o, canary) {
			t.Errorf("output %d holds a secret:\n%s", i, o)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"secret rotated"`) {
		t.Errorf("no rotation logged:\n%s", stderr.String())
	}
}
