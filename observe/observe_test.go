package observe

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

func newTest(t *testing.T, o Options) (*Telemetry, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	o.testSpans = exp
	o.Getenv = func(string) string { return "" }
	tel, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel, exp
}

// recorder is the upstream end of the chain in these tests: it keeps the
// request the gateway would have sent and answers with reply.
type recorder struct {
	upstream.Upstream
	got   *upstream.Request
	reply []byte
}

func (r *recorder) Post(_ context.Context, req *upstream.Request) (upstream.Reply, error) {
	r.got = req
	return upstream.Message(r.reply), nil
}

func call(t *testing.T, raw string, p *gateway.Principal, hdr http.Header) *gateway.Call {
	t.Helper()
	m, err := jsonrpc.Decode([]byte(raw), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	params, err := mcp.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "r", Era: mcp.EraModern, Version: mcp.Version20260728, Principal: p, Msg: m, Params: params, Header: hdr}
}

// run passes c through the server middleware, one policy and the traced
// upstream, and drains the reply as the relay would.
func run(t *testing.T, tel *Telemetry, rec *recorder, c *gateway.Call, stdio bool) {
	t.Helper()
	up := tel.Upstream(rec, UpstreamOptions{Route: "r", Stdio: stdio})
	dispatch := func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		req := upstream.Forward(c.Msg)
		req.ProtocolVersion = c.Version
		req.Header = http.Header{"Traceparent": c.Header["Traceparent"], "Baggage": c.Header["Baggage"]}
		return up.Post(ctx, req)
	}
	pass := func(next gateway.Handler) gateway.Handler { return next }
	h := tel.Middleware("r")(tel.Policy("scopes", pass)(dispatch))
	reply, err := h(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := reply.Next(context.Background()); err != nil {
			break
		}
	}
	reply.Close()
}

func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.Name == name && s.SpanKind == kind {
			return s
		}
	}
	t.Fatalf("no %v span %q in %d spans", kind, name, len(spans))
	return tracetest.SpanStub{}
}

func attr(s tracetest.SpanStub, k string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == k {
			return a.Value.String()
		}
	}
	return ""
}

func TestTraceContextAcrossTheGateway(t *testing.T) {
	const msg = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{},"_meta":{` +
		`"io.modelcontextprotocol/protocolVersion":"2026-07-28","traceparent":"00-` + callerTrace + `-` + callerSpan + `-01",` +
		`"tracestate":"caller=1","baggage":"tenant=acme,secret=s3"}}}`
	for _, tc := range []struct {
		name          string
		principal     *gateway.Principal
		stdio         bool
		wantParent    bool
		wantBaggage   string
		wantToolError bool
	}{
		{name: "authenticated stdio", principal: &gateway.Principal{Issuer: "https://idp", Subject: "u", ClientID: "c"}, stdio: true, wantParent: true, wantBaggage: "tenant=acme"},
		{name: "authenticated http", principal: &gateway.Principal{Issuer: "https://idp", Subject: "u"}, wantParent: true, wantBaggage: "tenant=acme"},
		{name: "anonymous", stdio: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel, exp := newTest(t, Options{BaggageAllow: []string{"tenant"}})
			rec := &recorder{reply: []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":true}}`)}
			run(t, tel, rec, call(t, msg, tc.principal, http.Header{"Baggage": {"secret=h"}}), tc.stdio)
			spans := exp.GetSpans()
			server := spanNamed(t, spans, "tools/call echo", trace.SpanKindServer)
			client := spanNamed(t, spans, "tools/call echo", trace.SpanKindClient)
			policy := spanNamed(t, spans, "policy scopes", trace.SpanKindInternal)
			if got := server.Parent.SpanID().String(); tc.wantParent != (got == callerSpan) {
				t.Errorf("SERVER parent %s (valid %v), caller's %s expected: %v", got, server.Parent.IsValid(), callerSpan, tc.wantParent)
			}
			if !tc.wantParent && server.Parent.IsValid() {
				t.Errorf("an anonymous caller chose the trace: parent %v", server.Parent)
			}
			if client.Parent.SpanID() != server.SpanContext.SpanID() || policy.Parent.SpanID() != server.SpanContext.SpanID() {
				t.Errorf("CLIENT and policy spans must be children of the SERVER span")
			}
			for k, want := range map[string]string{AttrMCPMethodName: "tools/call", AttrGenAIToolName: "echo",
				AttrJSONRPCRequestID: "7", AttrMCPProtocolVersion: "2026-07-28", AttrErrorType: ErrorTypeToolError, AttrMCPSessionID: ""} {
				if got := attr(server, k); got != want {
					t.Errorf("SERVER %s = %q, want %q", k, got, want)
				}
			}
			wantTransport := TransportTCP
			if tc.stdio {
				wantTransport = TransportPipe
			}
			if got := attr(client, AttrNetworkTransport); got != wantTransport {
				t.Errorf("CLIENT network.transport = %q, want %q", got, wantTransport)
			}
			// What went upstream: the CLIENT span's context, in _meta and
			// in the header; never the caller's, nor its baggage beyond the
			// allow list.
			sent, err := rec.got.Message()
			if err != nil || !bytes.Equal(rec.got.Body, sent.Raw) {
				t.Fatalf("the upstream cannot read what it was sent: %v", err)
			}
			meta, _ := jsonx.Get(sent.Params, "_meta")
			want := "00-" + client.SpanContext.TraceID().String() + "-" + client.SpanContext.SpanID().String() + "-01"
			if got := metaCarrier(meta).Get(MetaTraceparent); got != want {
				t.Errorf("_meta.traceparent = %q, want %q", got, want)
			}
			if got := rec.got.Header.Get("Traceparent"); got != want {
				t.Errorf("traceparent header = %q, want %q", got, want)
			}
			if got := metaCarrier(meta).Get(MetaBaggage); got != tc.wantBaggage {
				t.Errorf("_meta.baggage = %q, want %q", got, tc.wantBaggage)
			}
			if got := rec.got.Header.Get("Baggage"); got != tc.wantBaggage {
				t.Errorf("baggage header = %q, want %q", got, tc.wantBaggage)
			}
			if v, ok := jsonx.Get(meta, "io.modelcontextprotocol/protocolVersion"); !ok || string(v) != `"2026-07-28"` {
				t.Errorf("other _meta members must stay: %s", meta)
			}
		})
	}
}

func TestRefusalIsADecision(t *testing.T) {
	tel, exp := newTest(t, Options{})
	refuse := func(gateway.Handler) gateway.Handler {
		return func(context.Context, *gateway.Call) (upstream.Reply, error) {
			return nil, &gateway.Error{Status: http.StatusTooManyRequests, RPC: jsonrpc.NewError(-31002, "rate limited")}
		}
	}
	h := tel.Middleware("r")(tel.Policy(PolicyRateLimit, refuse)(nil))
	_, err := h(context.Background(), call(t, `{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}`, nil, nil))
	if err == nil {
		t.Fatal("refusal lost")
	}
	spans := exp.GetSpans()
	server := spanNamed(t, spans, "tools/call x", trace.SpanKindServer)
	policy := spanNamed(t, spans, "policy rate_limit", trace.SpanKindInternal)
	if attr(server, AttrErrorType) != "-31002" || attr(server, AttrRPCResponseStatus) != "-31002" || attr(server, AttrJSONRPCRequestID) != "a" {
		t.Errorf("SERVER attributes %v", server.Attributes)
	}
	if attr(policy, AttrDecision) != "deny" || attr(policy, AttrReason) != "-31002" {
		t.Errorf("policy attributes %v", policy.Attributes)
	}
}

func TestRequestIDAndAccessLog(t *testing.T) {
	var logs bytes.Buffer
	tel, _ := newTest(t, Options{AccessLog: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := tel.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), HTTPOptions{TrustedPeer: func(r *http.Request) bool { return strings.HasPrefix(r.RemoteAddr, "10.") }})
	for _, tc := range []struct {
		name, peer, id string
		keep           bool
	}{
		{"trusted proxy", "10.0.0.1:1", "abc-123", true},
		{"untrusted peer", "192.0.2.1:1", "abc-123", false},
		{"trusted proxy, unsafe id", "10.0.0.1:1", "a b\nc", false},
		{"none", "10.0.0.1:1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			r := httptest.NewRequest("GET", "/x", nil)
			r.RemoteAddr = tc.peer
			if tc.id != "" {
				r.Header.Set(HeaderRequestID, tc.id)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get(HeaderRequestID)
			if tc.keep != (got == tc.id) || len(got) == 0 || !validRequestID(got) {
				t.Errorf("X-Request-Id %q (sent %q, keep %v)", got, tc.id, tc.keep)
			}
			line := logs.String()
			if strings.Count(line, "\n") != 1 || !strings.Contains(line, "request_id="+got) || !strings.Contains(line, "status=418") {
				t.Errorf("access log %q", line)
			}
		})
	}
}

var _ sdktrace.SpanExporter = (*tracetest.InMemoryExporter)(nil)

// counters collects the sums of every counter, keyed by name and sorted
// attribute values.
func counters(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					var vals []string
					for _, kv := range dp.Attributes.ToSlice() {
						vals = append(vals, kv.Value.String())
					}
					out[m.Name+"{"+strings.Join(vals, ",")+"}"] += dp.Value
				}
			}
		}
	}
	return out
}

func TestAuthServerOutcomes(t *testing.T) {
	var reader *sdkmetric.ManualReader
	tel, exp := newTest(t, Options{testMetrics: func(p sdkmetric.Producer) sdkmetric.Reader {
		reader = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
		return reader
	}})
	as := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.URL.Path {
		case "/as/token":
			if r.PostForm.Get("grant_type") == "bogus" {
				w.WriteHeader(http.StatusBadRequest)
			}
		case "/as/login":
			if r.PostForm.Get("password") != "right" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusSeeOther)
		case "/as/register":
			w.WriteHeader(http.StatusCreated)
		}
	})
	h := tel.HTTP(Routed(tel.AuthServer(as, AuthServerRoutes{Token: "/as/token", Login: "/as/login", Register: "/as/register",
		All: []string{"/as/token", "/as/login", "/as/register"}})), HTTPOptions{})
	for _, req := range []struct{ path, form string }{
		{"/as/token", "grant_type=authorization_code"}, {"/as/token", "grant_type=refresh_token"},
		{"/as/token", "grant_type=bogus"}, {"/as/login", "password=right"}, {"/as/login", "password=wrong"},
		{"/as/register", ""}, {"/as/elsewhere/" + strings.Repeat("x", 10), ""},
	} {
		r := httptest.NewRequest("POST", req.path, strings.NewReader(req.form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	got := counters(t, reader)
	for k, want := range map[string]int64{
		MetricAuthTokensIssued + "{authorization_code}": 1,
		MetricAuthTokensIssued + "{refresh_token}":      1,
		MetricAuthSignIns + "{ok}":                      1,
		MetricAuthSignIns + "{failed}":                  1,
		MetricAuthRegistrations + "{ok}":                1,
	} {
		if got[k] != want {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], want, got)
		}
	}
	for k := range got {
		if strings.Contains(k, "bogus") {
			t.Errorf("an unknown grant became a label: %s", k)
		}
	}
	names := map[string]bool{}
	for _, s := range exp.GetSpans() {
		names[s.Name] = true
		if s.Parent.IsValid() {
			t.Errorf("authorization server span %q has a parent", s.Name)
		}
	}
	for _, n := range []string{"POST /as/token", "POST /as/login", "POST /as/register", "POST"} {
		if !names[n] {
			t.Errorf("no span %q (have %v)", n, names)
		}
	}
}

// TestExportFromEnvironment: the standard OTEL_* variables alone turn
// export on, and the configuration wins over them.
func TestExportFromEnvironment(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name string
		cfg  Export
		env  map[string]string
		want bool
	}{
		{"nothing", Export{}, nil, false},
		{"endpoint", Export{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{"signal endpoint", Export{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"exporter otlp", Export{}, map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"exporter none wins over endpoint", Export{}, map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, false},
		{"config off wins", Export{Enabled: &off}, map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, false},
		{"config on", Export{Enabled: &on}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exporting(tc.cfg, func(k string) string { return tc.env[k] }, "TRACES"); got != tc.want {
				t.Errorf("exporting = %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		cfg  string
		env  map[string]string
		want string
	}{
		{"", nil, ProtocolHTTP},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ProtocolGRPC},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, ProtocolHTTP},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ProtocolGRPC},
	} {
		if got, err := protocol(Export{Protocol: tc.cfg}, func(k string) string { return tc.env[k] }, "TRACES"); err != nil || got != tc.want {
			t.Errorf("protocol(%q, %v) = %q, %v; want %q", tc.cfg, tc.env, got, err, tc.want)
		}
	}
	if _, err := protocol(Export{}, func(string) string { return "http/json" }, "TRACES"); err == nil {
		t.Error("an unsupported protocol from the environment is accepted")
	}
	// OTEL_SDK_DISABLED=true turns everything off, whatever else says.
	tel, err := New(context.Background(), Options{Traces: Export{Enabled: &on}, Getenv: func(k string) string {
		return map[string]string{"OTEL_SDK_DISABLED": "true"}[k]
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if tel.Tracing() {
		t.Error("OTEL_SDK_DISABLED=true left tracing on")
	}
}
