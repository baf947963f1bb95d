package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

var binDir string

// TestMain builds the binaries the tests run as real processes, with the
// build tags of the test binary (the slim build under -tags mcpfort_nocloud).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcpfort-app-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, pkg := range []string{"mcpfort", "mcpfort-everything"} {
		args := []string{"build", "-o", filepath.Join(dir, pkg)}
		if !app.CloudSecrets {
			args = append(args, "-tags", "mcpfort_nocloud") // the slim build is under test
		}
		out, err := exec.Command("go", append(args, "github.com/mcpfort/mcpfort/cmd/"+pkg)...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "mcpfort.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func stdioConfig(t *testing.T, isolation string) *config.Config {
	t.Helper()
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
http: {shutdown_grace: 5s}
servers:
  - name: everything
    path: /mcp
    stdio:
      command: [%q]
      isolation: %s
`, filepath.Join(binDir, "mcpfort-everything"), isolation))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func start(t *testing.T, cfg *config.Config) (base string, stop func()) {
	t.Helper()
	return startWith(t, cfg, app.Options{Version: "test"})
}

func startWith(t *testing.T, cfg *config.Config, o app.Options) (base string, stop func()) {
	t.Helper()
	a, err := app.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(a net.Addr) { addr <- a }) }()
	select {
	case ad := <-addr:
		base = "http://" + ad.String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return base, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}
}

func TestHealthAndStdioRoute(t *testing.T) {
	for _, iso := range []string{"per_session", "per_user", "shared"} {
		t.Run(iso, func(t *testing.T) {
			base, stop := start(t, stdioConfig(t, iso))
			defer stop()
			for _, p := range []string{"/healthz", "/readyz"} {
				resp, err := http.Get(base + p)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s: %v %v", p, resp, err)
				}
				resp.Body.Close()
			}
			for _, version := range []string{"2025-11-25", ""} {
				c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
				var opts *mcp.ClientSessionOptions
				if version != "" {
					opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
				}
				cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, opts)
				if err != nil {
					t.Fatalf("connect %q: %v", version, err)
				}
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi " + iso}})
				if err != nil || res.Content[0].(*mcp.TextContent).Text != "hi "+iso {
					t.Fatalf("echo (%q): %v %v", version, res, err)
				}
				cs.Close()
			}
		})
	}
}

// TestSIGTERM runs the real binary, holds a GET stream and a slow call
// open, sends SIGTERM and checks the graceful shutdown: the stream ends with
// a retry hint, the process exits 0, and no child process survives.
func TestSIGTERM(t *testing.T) {
	dir := t.TempDir()
	child := filepath.Join(dir, "mcpfort-everything-sigterm")
	data, err := os.ReadFile(filepath.Join(binDir, "mcpfort-everything"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(child, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: info, format: json, flush_interval: 2s}
http: {shutdown_grace: 5s}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, child))
	cmd := exec.Command(filepath.Join(binDir, "mcpfort"), "serve", "--config", cfgPath)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The listening address is in the first log line.
	sc := bufio.NewScanner(stderr)
	var base string
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, `"addr":"`); i >= 0 {
			addr := line[i+8:]
			base = "http://" + addr[:strings.IndexByte(addr, '"')]
			break
		}
	}
	if base == "" {
		t.Fatal("no listening address logged")
	}
	// The rest of the log, to its end: informational lines kept in memory
	// (log.flush_interval) are written at shutdown at the latest.
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		io.Copy(io.Discard, stderr)
		rest <- b.String()
	}()

	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
		t.Fatal(err)
	}
	if n := countProcs(child); n != 1 {
		t.Fatalf("%d child processes before shutdown, want 1", n)
	}
	req, _ := http.NewRequest("GET", base+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET stream: %v %v", resp, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "retry:") {
		t.Fatalf("GET stream ended without a retry hint: %q", body)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("mcpfort exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mcpfort did not exit after SIGTERM")
	}
	if n := countProcs(child); n != 0 {
		t.Fatalf("%d child processes survived shutdown", n)
	}
	select {
	case log := <-rest:
		if !strings.Contains(log, `"msg":"http request"`) || !strings.Contains(log, `"mcp_method":"tools/call"`) {
			t.Fatalf("the access log of the call is missing after shutdown:\n%s", log)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the log did not end after the process exited")
	}
}

// countProcs counts live processes whose executable path is exe.
func countProcs(exe string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && target == exe {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
				n++
			}
		}
	}
	return n
}

// TestStdioWarm: stdio.warm starts per_session processes before any client
// comes, and a session then works on one of them.
func TestStdioWarm(t *testing.T) {
	cfg := stdioConfig(t, "per_session")
	cfg.Servers[0].Stdio.Warm = 2
	base, stop := start(t, cfg)
	defer stop()
	children := func() int {
		n := 0
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(b)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) && strings.Contains(s, "(mcpfort-everyth") {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for children() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d warm processes after 20s, want 2", children())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "warm"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "warm" {
		t.Fatalf("echo: %v %v", res, err)
	}
}
