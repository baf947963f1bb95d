package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mcpfort/mcpfort/bench/load"
	"github.com/mcpfort/mcpfort/bench/procstat"
)

// peer is one thing measured: an endpoint, the era spoken to it, and the
// processes whose CPU and memory are attributed to it.
type peer struct {
	name  string
	era   load.Era
	check load.Check
	url   string
	// server is the process whose CPU per call is the peer's own: the
	// gateway when the peer is a gateway.
	server *proc
	// up is a separate upstream process (an HTTP upstream), or nil.
	up *proc
	// tree: the server's descendants are its upstream (stdio children).
	tree bool
	// token, if set, is sent as a bearer token on every request.
	token string
}

func (c *config) startBare(ctx context.Context) (*proc, error) {
	return startProc(ctx, "bare", []string{filepath.Join(c.bin, "bare"), "-addr", "127.0.0.1:0"}, nil, "", readyListening)
}

// startFastEcho runs fastecho; args are more of its flags (-sse, -delay).
func (c *config) startFastEcho(ctx context.Context, name string, args ...string) (*proc, error) {
	return startProc(ctx, name, append([]string{filepath.Join(c.bin, "fastecho"), "-addr", "127.0.0.1:0"}, args...), nil, "", readyListening)
}

// startRelay runs the reference proxy in mode (tcp or http) in front of
// the HTTP server at upURL.
func (c *config) startRelay(ctx context.Context, name, mode, upURL string) (*proc, error) {
	u, err := url.Parse(upURL)
	if err != nil {
		return nil, err
	}
	return startProc(ctx, name, []string{filepath.Join(c.bin, "relay"), "-addr", "127.0.0.1:0", "-mode", mode, "-upstream", u.Host}, nil, "", readyListening)
}

func (c *config) startGoSDK(ctx context.Context, name string) (*proc, error) {
	return startProc(ctx, name, []string{filepath.Join(c.bin, "gosdk"), "-http", "127.0.0.1:0"}, nil, "", readyListening)
}

// httpServer is an mcpfort servers entry for an HTTP upstream; era is
// the upstream's era setting ("" for mcpfort's default, auto).
func httpServer(url, era string) string {
	s := "  - name: echo\n    path: /mcp\n"
	if era != "" {
		s += "    era: " + era + "\n"
	}
	return s + "    http:\n      url: " + strconv.Quote(url) + "\n"
}

// stdioServer is an mcpfort servers entry running the go-sdk peer over
// stdio with the given isolation; maxProcs 0 keeps mcpfort's default.
func (c *config) stdioServer(isolation string, maxProcs int) string {
	abs, _ := filepath.Abs(filepath.Join(c.bin, "gosdk"))
	s := "  - name: echo\n    path: /mcp\n    stdio:\n      command: [" + strconv.Quote(abs) + "]\n      isolation: " + isolation + "\n"
	if maxProcs > 0 {
		s += "      max_processes: " + strconv.Itoa(maxProcs) + "\n"
	}
	return s
}

// startMcpfort writes a configuration with one route at /mcp and starts
// mcpfort on it (inside gwprof when profiling). extra is more top-level
// YAML (auth).
func (c *config) startMcpfort(ctx context.Context, name, server string, extra ...string) (*proc, error) {
	dir := filepath.Join(c.tmp, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	yaml := "listen: 127.0.0.1:0\nlog:\n  level: info\n  format: json\nstate:\n  dir: " + strconv.Quote(dir) + "\n" +
		strings.Join(extra, "") + "servers:\n" + server
	file := filepath.Join(dir, "mcpfort.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	argv := []string{filepath.Join(c.bin, "mcpfort"), "serve", "--config", file}
	if c.profile != "" {
		argv = []string{filepath.Join(c.bin, "gwprof"), "-config", file,
			"-cpuprofile", filepath.Join(c.profile, name+".cpu.pprof"),
			"-memprofile", filepath.Join(c.profile, name+".heap.pprof")}
	}
	return startProc(ctx, name, argv, nil, dir, readyMcpfort("/mcp"))
}

// authPublicURL is the public URL of the mcpfort that checks tokens: the
// audience of its route is authPublicURL + "/mcp".
const authPublicURL = "http://localhost"

// authConfig is top-level mcpfort YAML trusting issuer for access tokens
// (plain http is allowed: the issuer is on loopback).
func authConfig(issuer string) string {
	return "public_url: " + authPublicURL + "\nauth:\n  insecure_allow_http: true\n  issuers:\n    - issuer: " + strconv.Quote(issuer) + "\n"
}

// startSupergateway runs supergateway (stateful Streamable HTTP output,
// one child per session, logging off so that it is not charged for log
// lines) in front of the go-sdk peer over stdio.
func (c *config) startSupergateway(ctx context.Context, name string) (*proc, error) {
	script := filepath.Join(c.node, "node_modules", "supergateway", "dist", "index.js")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("supergateway not installed (npm ci in %s): %w", c.node, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	gosdk, _ := filepath.Abs(filepath.Join(c.bin, "gosdk"))
	argv := []string{"node", script,
		"--stdio", shellQuote(gosdk),
		"--outputTransport", "streamableHttp", "--stateful",
		"--port", strconv.Itoa(port), "--streamableHttpPath", "/mcp",
		"--logLevel", "none"}
	p, err := startProc(ctx, name, argv, nil, "", nil)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitHTTP(ctx, p, addr); err != nil {
		p.stop()
		return nil, err
	}
	p.url = "http://" + addr + "/mcp"
	return p, nil
}

// shellQuote quotes s for sh -c, which supergateway runs its command with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// snap is one sample of a peer's processes and of the runner itself.
type snap struct {
	srv  procstat.Tree
	up   procstat.Stat
	self procstat.Stat
	err  error
}

func (p *peer) snap() snap {
	var s snap
	var err error
	if p.tree {
		s.srv, err = p.server.sample()
	} else {
		s.srv.Root, err = procstat.Read(p.server.pid())
	}
	if err != nil {
		s.err = err
	}
	if p.up != nil {
		if s.up, err = procstat.Read(p.up.pid()); err != nil {
			s.err = err
		}
	}
	if s.self, err = procstat.Read(os.Getpid()); err != nil {
		s.err = err
	}
	return s
}

// leanConfig turns off the audit log and schema checks, the two policies
// mcpfort runs by default.
const leanConfig = "audit:\n  enabled: false\npolicies:\n  schema:\n    enabled: false\n"

// slowDelay is how much slower than fastecho the slow upstream answers:
// about the go-sdk peer's latency under this load, enough that the
// gateway is no longer busy all the time.
const slowDelay = "20ms"

// rateLimitConfig is a per-subject limit the load never reaches.
const rateLimitConfig = "policies:\n  rate_limits: [{name: bench, by: [subject, server, tool], limit: 100000, period: 1s}]\n"
