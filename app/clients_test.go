package app_test

// The clients people connect to the quick start with, run as they are
// shipped (npm packages pinned in interop/package-lock.json) against
// examples/quickstart.yaml: the mcp-remote bridge that desktop hosts use
// to reach a remote server, and the MCP Inspector's command-line mode.
// Their browser step is played by a headless user agent (signIn) that
// follows the real sign-in and consent pages.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/config"
)

// clientsDeadline bounds each client run: sign-in, consent and a few
// calls take a few seconds; a client that hangs fails the test instead.
const clientsDeadline = 90 * time.Second

var (
	clientsOnce sync.Once
	clientsNode string // Node 22's bin directory
	clientsDir  string // interop/, with node_modules installed
	clientsErr  error
	clientsSkip string
)

// clientDeps returns Node 22's bin directory and interop/ with its pinned
// packages installed (as `make node-deps` does: npm ci once per lock file).
// It skips only when Node cannot be installed on this machine.
func clientDeps(t *testing.T) (nodeBin, dir string) {
	t.Helper()
	clientsOnce.Do(func() {
		root, _ := filepath.Abs("..")
		out, err := exec.Command(filepath.Join(root, "scripts", "node22.sh")).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			clientsSkip = fmt.Sprintf("Node 22 cannot be installed (scripts/node22.sh: %v %s): skipping the mcp-remote and MCP Inspector interop tests", err, stderr)
			return
		}
		clientsNode = strings.TrimSpace(string(out))
		clientsDir = filepath.Join(root, "interop")
		lock, err := os.ReadFile(filepath.Join(clientsDir, "package-lock.json"))
		if err != nil {
			clientsErr = err
			return
		}
		sum := sha256.Sum256(lock)
		stamp := filepath.Join(clientsDir, "node_modules", ".mcpfort-lock-sha256")
		if got, _ := os.ReadFile(stamp); strings.TrimSpace(string(got)) == hex.EncodeToString(sum[:]) {
			return
		}
		// node22.sh's Node has no npm: the npm on PATH installs, with
		// Node 22 first on PATH for any package script.
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		ci.Dir = clientsDir
		ci.Env = append(os.Environ(), "PATH="+clientsNode+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := ci.CombinedOutput(); err != nil {
			clientsErr = fmt.Errorf("npm ci in %s: %v\n%s", clientsDir, err, out)
			return
		}
		clientsErr = os.WriteFile(stamp, []byte(hex.EncodeToString(sum[:])+"\n"), 0o644)
	})
	if clientsSkip != "" {
		t.Skip(clientsSkip)
	}
	if clientsErr != nil {
		t.Fatal(clientsErr)
	}
	return clientsNode, clientsDir
}

// userAgent is the browser a desktop client opens: both packages open
// the authorization URL with the npm package `open`, which runs its own
// copy of xdg-open, which runs $BROWSER (or the first xdg-open on PATH
// when it is the system's). Both are a script that POSTs the URL to the
// test on loopback; the test then signs in and consents on the real pages
// and follows the final redirect to the client's loopback callback.
type userAgent struct {
	env    []string   // the client's whole environment
	opened chan error // one result per URL opened
	srv    *http.Server
	urls   []string
	mu     sync.Mutex
	home   string
}

// newUserAgent prepares an isolated environment for a Node client: its
// own HOME (no state kept between runs), Node 22 first on PATH, a fake
// browser, no display and no proxy settings, so that all its traffic is
// to loopback.
func newUserAgent(t *testing.T, nodeBin string, extraEnv ...string) *userAgent {
	t.Helper()
	ua := &userAgent{opened: make(chan error, 4)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ua.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		w.WriteHeader(http.StatusNoContent)
		authURL := strings.TrimSpace(string(raw))
		ua.mu.Lock()
		ua.urls = append(ua.urls, authURL)
		ua.mu.Unlock()
		go func() { ua.opened <- ua.browse(authURL) }()
	})}
	go ua.srv.Serve(l)
	t.Cleanup(func() { ua.srv.Close() })

	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
# The browser of the interop tests: hands the URL to the test.
exec %s -e 'fetch(process.argv[1], {method: "POST", body: process.argv[2]}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' %s "$1"
`, shellQuote(filepath.Join(nodeBin, "node")), shellQuote("http://"+l.Addr().String()+"/open"))
	for _, name := range []string{"xdg-open", "browser"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ua.home = home
	ua.env = append([]string{
		"HOME=" + home,
		"PATH=" + bin + string(os.PathListSeparator) + nodeBin + string(os.PathListSeparator) + "/usr/bin:/bin",
		"BROWSER=" + filepath.Join(bin, "browser"),
		"XDG_CURRENT_DESKTOP=X-Generic", // the `open` package's xdg-open then goes straight to $BROWSER
		"TMPDIR=" + t.TempDir(),
		"NO_COLOR=1",
	}, extraEnv...)
	return ua
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// wait returns the outcome of the next browser step, or an error when
// the client opened no browser before ctx ends.
func (ua *userAgent) wait(ctx context.Context) error {
	select {
	case err := <-ua.opened:
		return err
	case <-ctx.Done():
		return errors.New("the client opened no browser")
	}
}

// browse plays the user: sign in, consent, then load the callback the
// authorization server redirects to, as a browser would.
func (ua *userAgent) browse(authURL string) error {
	loc, err := signIn(authURL)
	if err != nil {
		return fmt.Errorf("sign-in at %s: %w", authURL, err)
	}
	if e := loc.Query().Get("error"); e != "" {
		return fmt.Errorf("authorization error %s: %s", e, loc.Query().Get("error_description"))
	}
	if h := loc.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
		return fmt.Errorf("redirect to %s, not to loopback", loc)
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(loc.String())
	if err != nil {
		return fmt.Errorf("callback %s: %w", loc, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("callback %s: %d %s", loc, resp.StatusCode, body)
	}
	return nil
}

// authURL returns the i-th authorization URL the client opened.
func (ua *userAgent) authURL(t *testing.T, i int) *url.URL {
	t.Helper()
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if len(ua.urls) <= i {
		t.Fatalf("the client opened %d authorization URLs, want more than %d", len(ua.urls), i)
	}
	u, err := url.Parse(ua.urls[i])
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// stdioPeer speaks newline-delimited JSON-RPC to a child process.
type stdioPeer struct {
	t      *testing.T
	stdin  io.WriteCloser
	lines  chan []byte
	ctx    context.Context
	stderr *syncBuilder
}

func (p *stdioPeer) send(msg string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, msg+"\n"); err != nil {
		p.t.Fatalf("write %s: %v\n%s", msg, err, p.stderr)
	}
}

// call sends a request and waits for the response with the same id,
// passing over notifications and server requests.
func (p *stdioPeer) call(id int, method, params string) json.RawMessage {
	p.t.Helper()
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, params))
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s: the client closed its stdout\n%s", method, p.stderr)
			}
			var msg struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(line, &msg); err != nil {
				p.t.Fatalf("%s: the client printed %q on stdout", method, line)
			}
			if msg.Method != "" || string(msg.ID) != fmt.Sprint(id) {
				continue
			}
			if msg.Error != nil {
				p.t.Fatalf("%s: error %s\n%s", method, msg.Error, p.stderr)
			}
			return msg.Result
		case <-p.ctx.Done():
			p.t.Fatalf("%s: no answer within %s\n%s", method, clientsDeadline, p.stderr)
		}
	}
}

// syncBuilder is a strings.Builder safe for a child's stderr.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuickstartMCPRemote runs mcp-remote, the stdio bridge of Claude
// Desktop, Cursor and most other hosts, exactly as the README's "Connect
// your client" configures it (`npx mcp-remote http://127.0.0.1:8080/mcp`,
// on the test's port), and speaks MCP over its stdin and stdout as a host
// does: the bridge discovers the authorization server from the 401,
// registers, opens the browser for sign-in and consent, receives the code
// on its loopback callback, and forwards initialize, tools/list and
// tools/call to the quick start's server.
func TestQuickstartMCPRemote(t *testing.T) {
	nodeBin, dir := clientDeps(t)
	base, stop := startQuickstart(t)
	defer stop()

	t.Run("advertised scope", func(t *testing.T) {
		// The bridge asks for the scopes the 401 and the protected
		// resource metadata advertise, and gets the route's.
		asked, granted := runMCPRemote(t, nodeBin, dir, base)
		if !hasScope(asked, config.DefaultScope) || !hasScope(granted, config.DefaultScope) {
			t.Fatalf("asked for scope %q, granted %q; want %s in both", asked, granted, config.DefaultScope)
		}
	})
	t.Run("OpenID fallback scope", func(t *testing.T) {
		// What the bridge asks for when a server advertises no scope
		// (and what a user pins when told to): scopes no resource
		// defines are ignored (RFC 6749 section 3.3), the route's
		// default scope is granted, and the token response says so.
		asked, granted := runMCPRemote(t, nodeBin, dir, base,
			"--static-oauth-client-metadata", `{"scope":"openid email profile"}`)
		if asked != "openid email profile" || !hasScope(granted, config.DefaultScope) {
			t.Fatalf("asked for scope %q, granted %q; want %q and %s", asked, granted, "openid email profile", config.DefaultScope)
		}
	})
}

// hasScope reports whether a space-separated scope list holds s.
func hasScope(list, s string) bool {
	return contains(strings.Fields(list), s)
}

// runMCPRemote runs one mcp-remote bridge with fresh state through
// sign-in, initialize, tools/list and tools/call, and returns the scope
// it asked for and the scope its token response granted.
func runMCPRemote(t *testing.T, nodeBin, dir, base string, args ...string) (asked, granted string) {
	configDir := t.TempDir()
	ua := newUserAgent(t, nodeBin, "MCP_REMOTE_CONFIG_DIR="+configDir)

	ctx, cancel := context.WithTimeout(context.Background(), clientsDeadline)
	defer cancel()
	// The callback port is the bridge's second argument; a free one keeps
	// parallel runs apart.
	argv := append([]string{filepath.Join(dir, "node_modules", "mcp-remote", "dist", "proxy.js"),
		base + "/mcp", fmt.Sprint(freePort(t))}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(nodeBin, "node"), argv...)
	cmd.Env = ua.env
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second
	var errOut syncBuilder
	cmd.Stderr = &errOut
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("mcp-remote stderr:\n%s", errOut.String())
		}
	}()
	lines := make(chan []byte, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
	}()
	p := &stdioPeer{t: t, stdin: stdin, lines: lines, ctx: ctx, stderr: &errOut}

	// The browser step runs while initialize waits for the bridge.
	browsed := make(chan error, 1)
	go func() { browsed <- ua.wait(ctx) }()
	init := p.call(1, "initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"interop-host","version":"1"}}`)
	if err := <-browsed; err != nil {
		t.Fatal(err)
	}
	var ir struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(init, &ir); err != nil || ir.ProtocolVersion == "" {
		t.Fatalf("initialize result %s", init)
	}
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	var list struct{ Tools []struct{ Name string } }
	if err := json.Unmarshal(p.call(2, "tools/list", `{}`), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	if !contains(names, "echo") {
		t.Fatalf("tools/list: %v", names)
	}
	var res struct {
		Content []struct{ Type, Text string }
		IsError bool
	}
	if err := json.Unmarshal(p.call(3, "tools/call", `{"name":"echo","arguments":{"text":"hello from mcp-remote"}}`), &res); err != nil {
		t.Fatal(err)
	}
	if res.IsError || len(res.Content) != 1 || res.Content[0].Text != "hello from mcp-remote" {
		t.Fatalf("tools/call: %+v", res)
	}

	// The bridge keeps the token response in its configuration directory.
	tokens, _ := filepath.Glob(filepath.Join(configDir, "*", "*_tokens.json"))
	if len(tokens) != 1 {
		t.Fatalf("token files in %s: %v", configDir, tokens)
	}
	raw, err := os.ReadFile(tokens[0])
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Scope        string `json:"scope"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatalf("%s: %v", tokens[0], err)
	}
	asked = ua.authURL(t, 0).Query().Get("scope")
	if hasScope(asked, "offline_access") && tok.RefreshToken == "" {
		t.Fatalf("asked for %q and got no refresh token", asked)
	}
	return asked, tok.Scope
}

// runInspector runs the MCP Inspector's command-line mode once and
// returns its stdout (one JSON object with --format json).
func runInspector(t *testing.T, ua *userAgent, nodeBin, dir string, args ...string) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientsDeadline)
	defer cancel()
	argv := append([]string{filepath.Join(dir, "node_modules", "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js"),
		"--cli"}, args...)
	argv = append(argv, "--format", "json")
	cmd := exec.CommandContext(ctx, filepath.Join(nodeBin, "node"), argv...)
	cmd.Env = ua.env
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second
	var errOut syncBuilder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("inspector --cli %s: %v\n%s\n%s", strings.Join(args, " "), err, out, errOut.String())
	}
	var r struct{ Result json.RawMessage }
	if err := json.Unmarshal(out, &r); err != nil || r.Result == nil {
		t.Fatalf("inspector --cli %s printed %s\n%s", strings.Join(args, " "), out, errOut.String())
	}
	return r.Result
}

// echoText returns the text of a tools/call result with one text block.
func echoText(t *testing.T, result json.RawMessage) string {
	t.Helper()
	var res struct {
		Content []struct{ Type, Text string }
		IsError bool
	}
	if err := json.Unmarshal(result, &res); err != nil || res.IsError || len(res.Content) != 1 {
		t.Fatalf("tools/call result %s", result)
	}
	return res.Content[0].Text
}

// TestQuickstartInspectorCLI runs the MCP Inspector's command-line mode
// (`inspector --cli URL --method ...`) against the quick start: its own
// OAuth flow (discovery, dynamic registration, the browser step on its
// loopback callback), then a call with the stored token and no browser,
// then a call in a fresh home with only a bearer token passed in a
// header (--header), as a CI job would.
func TestQuickstartInspectorCLI(t *testing.T) {
	nodeBin, dir := clientDeps(t)
	base, stop := startQuickstart(t)
	defer stop()
	// The Inspector opens a browser only when told to outside a terminal;
	// it keeps tokens in a file of its home when asked (no keychain here).
	ua := newUserAgent(t, nodeBin, "MCP_AUTO_OPEN_ENABLED=true", "MCP_INSPECTOR_SECRET_STORE=file")
	ctx, cancel := context.WithTimeout(context.Background(), clientsDeadline)
	defer cancel()
	browsed := make(chan error, 1)
	go func() { browsed <- ua.wait(ctx) }()
	list := runInspector(t, ua, nodeBin, dir, base+"/mcp", "--method", "tools/list",
		"--callback-url", fmt.Sprintf("http://127.0.0.1:%d/oauth/callback", freePort(t)))
	if err := <-browsed; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list), `"name":"echo"`) {
		t.Fatalf("tools/list: %s", list)
	}
	if got := ua.authURL(t, 0).Query().Get("scope"); !hasScope(got, config.DefaultScope) {
		t.Fatalf("the Inspector asked for scope %q, want %s among them", got, config.DefaultScope)
	}

	// Again with the stored token only: no second sign-in.
	res := runInspector(t, ua, nodeBin, dir, base+"/mcp", "--method", "tools/call", "--tool-name", "echo",
		"--tool-arg", "text=hello from the inspector", "--stored-auth-only")
	if got := echoText(t, res); got != "hello from the inspector" {
		t.Fatalf("tools/call = %q", got)
	}
	ua.mu.Lock()
	opened := len(ua.urls)
	ua.mu.Unlock()
	if opened != 1 {
		t.Fatalf("the Inspector opened %d authorization URLs, want 1", opened)
	}

	// A bearer token in a header, in a home with no stored state: the
	// token is the one the Inspector stored above.
	token := inspectorAccessToken(t, ua.home)
	fresh := newUserAgent(t, nodeBin, "MCP_INSPECTOR_SECRET_STORE=memory")
	res = runInspector(t, fresh, nodeBin, dir, base+"/mcp", "--method", "tools/call", "--tool-name", "echo",
		"--tool-arg", "text=bearer", "--header", "Authorization: Bearer "+token, "--stored-auth-only")
	if got := echoText(t, res); got != "bearer" {
		t.Fatalf("tools/call with a bearer header = %q", got)
	}
}

// inspectorAccessToken reads the access token the Inspector stored in
// its secrets file (MCP_INSPECTOR_SECRET_STORE=file).
func inspectorAccessToken(t *testing.T, home string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(home, ".mcp-inspector", "secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var store struct{ Secrets map[string]string }
	if err := json.Unmarshal(raw, &store); err != nil {
		t.Fatal(err)
	}
	for k, v := range store.Secrets {
		if !strings.Contains(k, ":tokens:") {
			continue
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal([]byte(v), &tok) == nil && tok.AccessToken != "" {
			return tok.AccessToken
		}
	}
	t.Fatalf("no access token in the Inspector's secrets file")
	return ""
}

// TestReadmeClientConfigs keeps the README's "Connect your client"
// snippets true: each JSON block parses and points at the quick start's
// URL, and the mcp-remote entry runs the bridge with the URL as its only
// argument, which is how TestQuickstartMCPRemote runs it.
func TestReadmeClientConfigs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Connect your client\n")
	if !ok {
		t.Fatal(`README.md has no "Connect your client" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	const quickstartURL = "http://127.0.0.1:8080/mcp"
	blocks := strings.Split(section, "```json\n")[1:]
	if len(blocks) < 3 {
		t.Fatalf("%d JSON snippets, want at least 3 (Claude Desktop, Cursor, VS Code)", len(blocks))
	}
	bridged := false
	for _, b := range blocks {
		body, _, _ := strings.Cut(b, "```")
		var cfg map[string]map[string]struct {
			Type    string   `json:"type"`
			URL     string   `json:"url"`
			Command string   `json:"command"`
			Args    []string `json:"args"`
		}
		if err := json.Unmarshal([]byte(body), &cfg); err != nil {
			t.Fatalf("snippet does not parse: %v\n%s", err, body)
		}
		servers := cfg["mcpServers"]
		if servers == nil {
			servers = cfg["servers"]
		}
		s, ok := servers["mcpfort"]
		if !ok {
			t.Fatalf("snippet without an mcpfort server:\n%s", body)
		}
		switch {
		case s.Command == "npx":
			if len(s.Args) != 3 || s.Args[0] != "-y" || s.Args[1] != "mcp-remote" || s.Args[2] != quickstartURL {
				t.Fatalf("mcp-remote entry runs npx %v", s.Args)
			}
			bridged = true
		case s.URL != quickstartURL:
			t.Fatalf("snippet points at %q, want %q:\n%s", s.URL, quickstartURL, body)
		case s.Type != "" && s.Type != "http":
			t.Fatalf("snippet type %q, want http (Streamable HTTP)", s.Type)
		}
	}
	if !bridged {
		t.Fatal("no mcp-remote snippet")
	}
}
