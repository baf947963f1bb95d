package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// TestOTLPMetricsInCollector exports the gateway's metrics over OTLP to a
// real OpenTelemetry Collector pipeline (the collector inside the pinned
// Jaeger binary: otlp receiver, prometheus exporter) and reads them back
// from the exporter's /metrics: the MCP operation histograms with their
// route and method labels, the mcpfort counters, and the stdio pool's
// start histogram. Once over OTLP/HTTP set in the configuration, once over
// gRPC set only by the standard OTEL_* variables.
func TestOTLPMetricsInCollector(t *testing.T) {
	jaeger := peerBinary(t, "jaeger.sh")
	otlpHTTP, otlpGRPC, promPort := freePort(t), freePort(t), freePort(t)
	ccfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(ccfg, fmt.Appendf(nil, `
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
  telemetry:
    metrics: {level: none}
    logs: {level: info}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%d"}
      http: {endpoint: "127.0.0.1:%d"}
exporters:
  prometheus:
    endpoint: "127.0.0.1:%d"
`, otlpGRPC, otlpHTTP, promPort), 0o600); err != nil {
		t.Fatal(err)
	}
	startPeer(t, "Everything is ready", jaeger, "--config", ccfg)
	scrape := fmt.Sprintf("http://127.0.0.1:%d/metrics", promPort)

	idp, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	everything := filepath.Join(binDir, "mcpfort-everything")

	for _, tc := range []struct{ name, otlp string }{
		{"http-config", fmt.Sprintf(`{enabled: true, endpoint: "http://127.0.0.1:%d", protocol: http/protobuf, interval: 1s}`, otlpHTTP)},
		{"grpc-env", `{interval: 1s}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "grpc-env" {
				t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
				t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", fmt.Sprintf("http://127.0.0.1:%d", otlpGRPC))
				t.Setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")
			}
			port := freePort(t)
			route := "otlp-" + tc.name
			p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}]
observability:
  service_name: mcpfort-%s
  metrics: %s
servers:
  - name: %s
    path: /local/mcp
    stdio: {command: [%q]}
    auth: {scopes: [mcp:tools]}
`, port, idp.URL, tc.name, tc.otlp, route, everything))
			cfg, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			_, stop := runApp(t, cfg)
			u := fmt.Sprintf("http://127.0.0.1:%d/local/mcp", port)
			tok, err := idp.Sign(resourceservertest.Token{Audience: []string{u}, Scopes: []string{"mcp:tools"}})
			if err != nil {
				t.Fatal(err)
			}
			cs, err := authedClient(t, u, tok, "")
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil || res.IsError {
					t.Fatalf("call: %v %v", res, err)
				}
			}
			cs.Close()
			stop() // flushes the last export

			r := `mcpfort_route="` + route + `"`
			want := []struct {
				name   string
				labels []string
			}{
				{"mcp_server_operation_duration_seconds_count", []string{r, `mcp_method_name="tools/call"`, `gen_ai_tool_name="echo"`}},
				{"mcp_client_operation_duration_seconds_count", []string{r, `mcp_method_name="tools/call"`, `network_transport="pipe"`}},
				{"mcpfort_requests_total", []string{r, `mcp_method_name="tools/call"`, `mcpfort_outcome="ok"`}},
				{"mcpfort_token_validations_total", []string{`mcpfort_result="ok"`, `job="mcpfort-` + tc.name + `"`}},
				{"mcpfort_stdio_start_duration_seconds_count", []string{r, `mcpfort_pool="stateless"`, `mcpfort_result="ok"`}},
			}
			values := map[string]string{}
			deadline := time.Now().Add(20 * time.Second)
			for {
				page := get(t, scrape)
				missing := ""
				for _, w := range want {
					v, ok := sample(page, w.name, w.labels)
					if !ok {
						missing = w.name + fmt.Sprint(w.labels)
						break
					}
					values[w.name] = v
				}
				if missing == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the collector's /metrics has no %s after 20s:\n%s", missing, page)
				}
				time.Sleep(200 * time.Millisecond)
			}
			for name, want := range map[string]string{
				"mcp_server_operation_duration_seconds_count": "3",
				"mcp_client_operation_duration_seconds_count": "3",
				"mcpfort_requests_total":                      "3",
			} {
				if values[name] != want {
					t.Errorf("%s = %s, want %s", name, values[name], want)
				}
			}
		})
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sample finds the first sample of metric name whose labels include all of
// labels in a Prometheus text page, and returns its value.
func sample(page, name string, labels []string) (string, bool) {
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line[:end], l) {
				ok = false
				break
			}
		}
		if ok {
			f := strings.Fields(line[end+1:])
			if len(f) > 0 {
				return f[0], true
			}
		}
	}
	return "", false
}

// TestExemplarsInPrometheus has a real Prometheus, with exemplar storage
// on, scrape a tracing gateway (spans go to a collector that drops them)
// and asks its exemplar API for the operation duration histogram: one
// exemplar carries the trace id of the client's call.
func TestExemplarsInPrometheus(t *testing.T) {
	promBinary(t, "prometheus") // skip before starting anything
	jaeger := peerBinary(t, "jaeger.sh")
	otlpHTTP := freePort(t)
	dir := t.TempDir()
	ccfg := filepath.Join(dir, "collector.yaml")
	if err := os.WriteFile(ccfg, fmt.Appendf(nil, `
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [nop]}
  telemetry:
    metrics: {level: none}
    logs: {level: info}
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:%d"}
exporters:
  nop:
`, otlpHTTP), 0o600); err != nil {
		t.Fatal(err)
	}
	startPeer(t, "Everything is ready", jaeger, "--config", ccfg)

	idp, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	port, metricsPort := freePort(t), freePort(t)
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}]
observability:
  tracing: {enabled: true, endpoint: "http://127.0.0.1:%d", protocol: http/protobuf, sample_ratio: 1}
  metrics: {listen: "127.0.0.1:%d"}
servers:
  - name: local
    path: /local/mcp
    stdio: {command: [%q]}
    auth: {scopes: [mcp:tools]}
`, port, idp.URL, otlpHTTP, metricsPort, filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, cfg)
	prom := startPrometheus(t, metricsPort, "--enable-feature=exemplar-storage")

	u := fmt.Sprintf("http://127.0.0.1:%d/local/mcp", port)
	tok, err := idp.Sign(resourceservertest.Token{Audience: []string{u}, Scopes: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := authedClient(t, u, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	const traceID = "5bf92f3577b34da6a3ce929d0e0e4737"
	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"},
		Meta: mcp.Meta{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}}); err != nil || res.IsError {
		t.Fatalf("call: %v %v", res, err)
	}

	q := url.Values{"query": {`mcp_server_operation_duration_seconds_bucket{gen_ai_tool_name="echo"}`},
		"start": {fmt.Sprint(time.Now().Add(-time.Hour).Unix())}, "end": {fmt.Sprint(time.Now().Add(time.Hour).Unix())}}
	api := prom + "/query_exemplars?" + q.Encode()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var body struct {
			Status string `json:"status"`
			Data   []struct {
				Exemplars []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			} `json:"data"`
		}
		var seen []string
		if resp, err := http.Get(api); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			for _, d := range body.Data {
				for _, e := range d.Exemplars {
					seen = append(seen, e.Labels["trace_id"])
					if e.Labels["trace_id"] == traceID && e.Labels["span_id"] != "" {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has no exemplar with trace_id %s after 30s (status %q, trace ids %v)", traceID, body.Status, seen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
