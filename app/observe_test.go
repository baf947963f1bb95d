package app_test

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// peerBinary returns the path a scripts/ helper prints after providing a
// pinned test peer (building it once). Without it the test cannot run:
// under -short it skips, otherwise it fails, so CI never passes silently.
func peerBinary(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join("..", "scripts", script)).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		if testing.Short() {
			t.Skipf("%s: %v\n%s", script, err, stderr)
		}
		t.Fatalf("%s: %v\n%s", script, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// startPeer runs a test peer and returns once a line of its output
// contains ready; the peer is stopped when the test ends.
func startPeer(t *testing.T, ready string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var tail []string
	var mu sync.Mutex
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			tail = append(tail, sc.Text())
			if len(tail) > 40 {
				tail = tail[1:]
			}
			mu.Unlock()
			if strings.Contains(sc.Text(), ready) {
				once.Do(func() { close(found) })
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-found:
	case err := <-exited:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s exited before it was ready: %v\n%s", filepath.Base(name), err, strings.Join(tail, "\n"))
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s not ready after 60s:\n%s", filepath.Base(name), strings.Join(tail, "\n"))
	}
}

// runApp starts a configured gateway; stop shuts it down, which flushes
// its telemetry.
func runApp(t *testing.T, cfg *config.Config) (a *app.App, stop func()) {
	t.Helper()
	a, err := app.New(cfg, app.Options{Version: "test", Console: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(net.Addr) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// traceParent is a W3C traceparent the test client sends as its own.
const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
	starterSpanID = "00f067aa0ba902b8"
)

type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s jaegerSpan) tag(k string) string {
	for _, t := range s.Tags {
		if t.Key == k {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// TestTracesInJaeger runs the gateway against a real Jaeger (built from
// its Go module) and checks, for an HTTP upstream and a stdio upstream,
// the trace of one tools/call: the SERVER span is the child of the
// authenticated client's span, each policy has its span under it, and the
// upstream CLIENT span is under it too, with its span id what the upstream
// received (HTTP traceparent header, params._meta.traceparent); the token
// validation is a span under the SERVER span, and a principal's first
// stateless call to the stdio upstream has its process start under its
// CLIENT span.
func TestTracesInJaeger(t *testing.T) {
	jaeger := peerBinary(t, "jaeger.sh")
	otlpHTTP, otlpGRPC, queryHTTP, queryGRPC, health := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	jcfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(jcfg, fmt.Appendf(nil, `
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: {level: none}
    logs: {level: info}
extensions:
  jaeger_query:
    storage: {traces: mem}
    http: {endpoint: "127.0.0.1:%d"}
    grpc: {endpoint: "127.0.0.1:%d"}
  jaeger_storage:
    backends:
      mem: {memory: {max_traces: 10000}}
  healthcheckv2:
    use_v2: true
    http: {endpoint: "127.0.0.1:%d"}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%d"}
      http: {endpoint: "127.0.0.1:%d"}
processors:
  batch: {timeout: 50ms}
exporters:
  jaeger_storage_exporter: {trace_storage: mem}
`, queryHTTP, queryGRPC, health, otlpGRPC, otlpHTTP), 0o600); err != nil {
		t.Fatal(err)
	}
	startPeer(t, "Everything is ready", jaeger, "--config", jcfg)

	everything := filepath.Join(binDir, "mcpfort-everything")
	upPort := freePort(t)
	startPeer(t, "listening on", everything, "-http", fmt.Sprintf("127.0.0.1:%d", upPort))

	idp, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()

	for _, tc := range []struct{ name, protocol string }{{"otlp-http", "http/protobuf"}, {"otlp-grpc", "grpc"}} {
		t.Run(tc.name, func(t *testing.T) {
			endpoint := fmt.Sprintf("http://127.0.0.1:%d", otlpHTTP)
			if tc.protocol == "grpc" {
				endpoint = fmt.Sprintf("http://127.0.0.1:%d", otlpGRPC)
			}
			port := freePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}]
observability:
  service_name: mcpfort-%s
  tracing: {enabled: true, endpoint: %q, protocol: %s, sample_ratio: 0}
policies:
  rate_limits: [{name: calls, by: [subject], limit: 100, period: 1m}]
servers:
  - name: remote
    path: /remote/mcp
    http: {url: "http://127.0.0.1:%d/mcp"}
    auth: {scopes: [mcp:tools]}
  - name: local
    path: /local/mcp
    stdio: {command: [%q]}
    auth: {scopes: [mcp:tools]}
`, port, idp.URL, tc.name, endpoint, tc.protocol, upPort, everything))
			cfg, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			_, stop := runApp(t, cfg)
			got := map[string]map[string]string{}
			for _, route := range []string{"remote", "local"} {
				u := base + "/" + route + "/mcp"
				tok, err := idp.Sign(resourceservertest.Token{Audience: []string{u}, Scopes: []string{"mcp:tools"}})
				if err != nil {
					t.Fatal(err)
				}
				// The HTTP route is called in a legacy session, the stdio
				// route statelessly (2026-07-28).
				cs, err := authedClient(t, u, tok, map[string]string{"remote": "2025-11-25", "local": ""}[route])
				if err != nil {
					t.Fatalf("%s: connect: %v", route, err)
				}
				// The client samples its trace, so the gateway records it
				// although its own ratio is 0 (parent-based sampling).
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_trace_context",
					Meta: mcp.Meta{"traceparent": "00-" + clientTraceID + "-" + clientSpanID + "-01", "baggage": "secret=1"}})
				if err != nil || res.IsError {
					t.Fatalf("%s: call: %v %v", route, res, err)
				}
				var seen map[string]string
				if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &seen); err != nil {
					t.Fatal(err)
				}
				got[route] = seen
				cs.Close()
			}
			// A principal's first stateless call starts its process: a
			// raw one, so that it is the first, in the client's trace.
			starter, err := idp.Sign(resourceservertest.Token{Subject: "starter", Audience: []string{base + "/local/mcp"}, Scopes: []string{"mcp:tools"}})
			if err != nil {
				t.Fatal(err)
			}
			// (tools/list: a tools/call would first list the tools for
			// the schema policy, in a listing of its own.)
			resp := rawPost(t, base+"/local/mcp", starter, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{`+
				`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`,
				map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list",
					"Traceparent": "00-" + clientTraceID + "-" + starterSpanID + "-01"})
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "echo") {
				t.Fatalf("starter's call: %d %s", resp.StatusCode, body)
			}
			stop() // flushes the spans

			spans := jaegerTrace(t, queryHTTP, clientTraceID, "mcpfort-"+tc.name, 3)
			var starterClient *jaegerSpan
			for _, s := range spans {
				if s.OperationName == "tools/list" && s.tag("span.kind") == "server" && s.parent() == starterSpanID {
					for j, c := range spans {
						if c.tag("span.kind") == "client" && c.parent() == s.SpanID {
							starterClient = &spans[j]
						}
					}
				}
			}
			if starterClient == nil {
				t.Fatalf("no SERVER and CLIENT span of the starter's call in %+v", spans)
			}
			var start *jaegerSpan
			for i, s := range spans {
				if s.OperationName == "stdio process start" && s.parent() == starterClient.SpanID {
					start = &spans[i]
				}
			}
			if start == nil || start.tag("mcpfort.pool") != "stateless" || start.tag("mcpfort.route") != "local" {
				var all []string
				for _, s := range spans {
					all = append(all, s.OperationName+" "+s.SpanID+"<"+s.parent())
				}
				t.Errorf("no stdio process start span of the local route's stateless pool under the CLIENT span %s: %+v\n%s", starterClient.SpanID, start, strings.Join(all, "\n"))
			}
			for _, route := range []string{"remote", "local"} {
				seen := got[route]
				if seen["meta_baggage"] != "" || seen["header_baggage"] != "" {
					t.Errorf("%s: baggage not on the allow list reached the upstream: %v", route, seen)
				}
				var server, client *jaegerSpan
				for i, s := range spans {
					if s.OperationName != "tools/call test_trace_context" || s.tag("mcpfort.route") != route {
						continue
					}
					switch s.tag("span.kind") {
					case "server":
						server = &spans[i]
					case "client":
						client = &spans[i]
					}
				}
				if server == nil || client == nil {
					t.Fatalf("%s: no SERVER and CLIENT span in %d spans: %+v", route, len(spans), spans)
				}
				if server.parent() != clientSpanID {
					t.Errorf("%s: SERVER span's parent = %q, want the client's span %s", route, server.parent(), clientSpanID)
				}
				if client.parent() != server.SpanID {
					t.Errorf("%s: CLIENT span's parent = %q, want the SERVER span %s", route, client.parent(), server.SpanID)
				}
				version := map[string]string{"remote": "2025-11-25", "local": "2026-07-28"}[route]
				for k, want := range map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "test_trace_context",
					"gen_ai.operation.name": "execute_tool", "mcp.protocol.version": version} {
					if v := server.tag(k); v != want {
						t.Errorf("%s: SERVER %s = %q, want %q", route, k, v, want)
					}
				}
				if server.tag("jsonrpc.request.id") == "" {
					t.Errorf("%s: SERVER span has no jsonrpc.request.id", route)
				}
				// mcp.session.id: legacy sessions only, never 2026-07-28.
				if legacy, has := route == "remote", server.tag("mcp.session.id") != ""; legacy != has {
					t.Errorf("%s: SERVER mcp.session.id present = %v, want %v", route, has, legacy)
				}
				wantTransport := map[string]string{"remote": "tcp", "local": "pipe"}[route]
				if v := client.tag("network.transport"); v != wantTransport {
					t.Errorf("%s: CLIENT network.transport = %q, want %q", route, v, wantTransport)
				}
				want := "00-" + clientTraceID + "-" + client.SpanID + "-01"
				key := map[string]string{"remote": "header_traceparent", "local": "meta_traceparent"}[route]
				if seen[key] != want {
					t.Errorf("%s: upstream got %s %q, want the CLIENT span's context %q (all: %v)", route, key, seen[key], want, seen)
				}
				if v := seen["meta_traceparent"]; v != "" && v != want {
					t.Errorf("%s: params._meta.traceparent %q is not the gateway's span %q", route, v, want)
				}
				policies := map[string]bool{}
				for _, s := range spans {
					if strings.HasPrefix(s.OperationName, "policy ") && s.parent() == server.SpanID {
						policies[strings.TrimPrefix(s.OperationName, "policy ")] = true
					}
				}
				for _, p := range []string{"audit", "scopes", "rate_limit", "schema"} {
					if !policies[p] {
						t.Errorf("%s: no %q policy span under the SERVER span (have %v)", route, p, policies)
					}
				}
				under := func(name, parent string) *jaegerSpan {
					for i, s := range spans {
						if s.OperationName == name && s.parent() == parent {
							return &spans[i]
						}
					}
					return nil
				}
				if tok := under("token validation", server.SpanID); tok == nil || tok.tag("mcpfort.cache") == "" {
					t.Errorf("%s: no token validation span with mcpfort.cache under the SERVER span: %+v", route, tok)
				}
			}
		})
	}
}

// jaegerTrace asks Jaeger's query API for a trace until it holds at least
// min SERVER spans of service: the collector stores what it received a
// batch timeout after the gateway's flush, and no signal says when. Both
// subtests share the client's trace id, so spans are kept by service.
func jaegerTrace(t *testing.T, port int, traceID, service string, min int) []jaegerSpan {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var spans []jaegerSpan
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/traces/%s", port, traceID))
		if err == nil {
			var body struct {
				Data []struct {
					Spans     []jaegerSpan `json:"spans"`
					Processes map[string]struct {
						ServiceName string `json:"serviceName"`
					} `json:"processes"`
				} `json:"data"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			servers := 0
			for _, d := range body.Data {
				for _, s := range d.Spans {
					if d.Processes[s.ProcessID].ServiceName != service {
						continue
					}
					spans = append(spans, s)
					if s.tag("span.kind") == "server" {
						servers++
					}
				}
			}
			if servers >= min {
				return spans
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger has no complete trace %s for %s after 15s: %+v (%v)", traceID, service, spans, err)
		}
		<-tick.C
	}
}

// promBinary returns the path of a Prometheus tool from the Debian package
// (prometheus, promtool); without it the test skips under -short and fails
// otherwise.
func promBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testing.Short() {
			t.Skipf("%s not installed (Debian package prometheus)", name)
		}
		t.Fatalf("%s not installed (Debian package prometheus): %v", name, err)
	}
	return p
}

// TestAlertRules validates deploy/observability's alert rules with
// promtool and checks that the Grafana dashboard is JSON with queries.
func TestAlertRules(t *testing.T) {
	promtool := promBinary(t, "promtool")
	dir := filepath.Join("..", "deploy", "observability")
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, "alerts.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	for _, e := range dashboardExprs(t) {
		if strings.TrimSpace(e) == "" {
			t.Error("dashboard has an empty query")
		}
	}
}

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "observability", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) == 0 {
		t.Fatal("dashboard has no queries")
	}
	return exprs
}

// TestMetricsInPrometheus has a real Prometheus scrape the gateway's
// metrics listener during a scripted workload (calls through a stdio
// upstream, some over a rate limit) and asks its HTTP API, in PromQL, for
// the call rate, the rate-limit rejections and the stdio queue gauge; each
// of the dashboard's queries must be valid PromQL there too.
func TestMetricsInPrometheus(t *testing.T) {
	promBinary(t, "prometheus") // skip before starting anything
	idp, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	port, metricsPort := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}]
observability:
  metrics: {listen: "127.0.0.1:%d"}
policies:
  rate_limits: [{name: calls, by: [subject], limit: 3, period: 1h, methods: [tools/call]}]
servers:
  - name: local
    path: /local/mcp
    stdio: {command: [%q]}
    auth: {scopes: [mcp:tools]}
`, port, idp.URL, metricsPort, filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, cfg)
	api := startPrometheus(t, metricsPort) + "/query"
	// Prometheus has no signal for a scrape: each query is asked again
	// until it has its answer. The workload runs in two parts, each seen
	// by a scrape, so that the counters have a rate.
	promQuery(t, api, `up{job="mcpfort"}`, "1")
	route := base + "/local/mcp"
	tok, err := idp.Sign(resourceservertest.Token{Audience: []string{route}, Scopes: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := authedClient(t, route, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	limited := 0
	calls := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
				limited++
			}
		}
	}
	calls(2)
	promQuery(t, api, `sum(mcpfort_requests_total{mcpfort_route="local",mcp_method_name="tools/call"})`, "2")
	calls(3)
	if limited != 2 {
		t.Fatalf("%d of 5 calls refused, want 2 over the limit of 3", limited)
	}
	for _, q := range []struct{ expr, want string }{
		{`sum(mcpfort_requests_total{mcpfort_route="local",mcp_method_name="tools/call",mcpfort_outcome="ok"})`, "3"},
		{`sum(mcpfort_requests_total{mcpfort_route="local",mcp_method_name="tools/call",mcpfort_outcome="refused"})`, "2"},
		{`sum(mcpfort_ratelimit_rejections_total{mcpfort_route="local"})`, "2"},
		{`sum(mcpfort_policy_decisions_total{mcpfort_policy="rate_limit",mcpfort_decision="deny"})`, "2"},
		{`count(mcpfort_stdio_queue_depth{mcpfort_route="local"})`, "2"},
		// Refused calls carry no tool name: a client may name any tool.
		{`sum(mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call"})`, "5"},
		{`sum(mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call",gen_ai_tool_name="echo"})`, "3"},
		{`sum(mcp_client_operation_duration_seconds_count{mcp_method_name="tools/call",network_transport="pipe"})`, "3"},
		{`sum(mcpfort_token_validations_total{mcpfort_result="ok"}) > 0`, ""},
		{`sum(mcpfort_stdio_start_duration_seconds_count{mcpfort_route="local",mcpfort_result="ok"}) > 0`, ""},
		{`sum(rate(mcpfort_requests_total{mcpfort_route="local"}[1m])) > 0`, ""},
	} {
		promQuery(t, api, q.expr, q.want)
	}
	for _, e := range dashboardExprs(t) {
		e = strings.NewReplacer("$__rate_interval", "1m", "$route", ".*").Replace(e)
		promValid(t, api, e)
	}
}

// startPrometheus runs a Prometheus that scrapes the metrics listener at
// metricsPort every second (job "mcpfort"), with flags added, and returns
// the base URL of its HTTP API (".../api/v1"). It stops when the test
// ends.
func startPrometheus(t *testing.T, metricsPort int, flags ...string) string {
	t.Helper()
	prom := promBinary(t, "prometheus")
	dir := t.TempDir()
	pcfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(pcfg, fmt.Appendf(nil, `
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: mcpfort
    static_configs: [{targets: ["127.0.0.1:%d"]}]
`, metricsPort), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	args := append([]string{"--config.file=" + pcfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)}, flags...)
	startPeer(t, "Server is ready to receive web requests", prom, args...)
	return fmt.Sprintf("http://127.0.0.1:%d/api/v1", port)
}

// promQuery asks until expr has a result (the value want, unless want is
// empty), for at most 30s.
func promQuery(t *testing.T, api, expr, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		res, err := promAPI(api, expr)
		if err == nil && len(res) > 0 {
			last = fmt.Sprint(res[0].Value[1])
			if want == "" || last == want {
				return
			}
		} else if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("PromQL %s: got %q, want %q", expr, last, want)
		}
		<-tick.C
	}
}

func promValid(t *testing.T, api, expr string) {
	t.Helper()
	if _, err := promAPI(api, expr); err != nil {
		t.Errorf("dashboard query %s: %v", expr, err)
	}
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

func promAPI(api, expr string) ([]promSample, error) {
	resp, err := http.Get(api + "?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s", body.Error)
	}
	return body.Data.Result, nil
}
