package observe

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
	"github.com/mcpfort/mcpfort/mcp"
)

var (
	everythingOnce sync.Once
	everythingBin  string
	everythingErr  error
)

// everything builds cmd/mcpfort-everything once, for the tests that run a
// real stdio upstream.
func everything(t *testing.T) string {
	t.Helper()
	everythingOnce.Do(func() {
		dir, err := os.MkdirTemp("", "observe-test-")
		if err != nil {
			everythingErr = err
			return
		}
		everythingBin = filepath.Join(dir, "mcpfort-everything")
		out, err := exec.Command("go", "build", "-o", everythingBin, "github.com/mcpfort/mcpfort/cmd/mcpfort-everything").CombinedOutput()
		if err != nil {
			everythingErr = err
			t.Logf("%s", out)
		}
	})
	if everythingErr != nil {
		t.Fatalf("building mcpfort-everything: %v", everythingErr)
	}
	return everythingBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if everythingBin != "" {
		os.RemoveAll(filepath.Dir(everythingBin))
	}
	os.Exit(code)
}

// runUpstream passes c through the server middleware and the traced
// upstream up, as the gateway would, with req's key and principal, and
// drains the reply.
func runUpstream(t *testing.T, tel *Telemetry, up upstream.Upstream, c *gateway.Call, key string) string {
	t.Helper()
	traced := tel.Upstream(up, UpstreamOptions{Route: "r", Stdio: true})
	dispatch := func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		req := upstream.Forward(c.Msg)
		req.ProtocolVersion, req.Key, req.Principal = c.Version, key, "user"
		return traced.Post(ctx, req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply, err := tel.Middleware("r")(dispatch)(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()
	var data string
	for {
		ev, err := reply.Next(ctx)
		if err != nil {
			break
		}
		data += string(ev.Data)
	}
	return data
}

// TestStdioSpans runs calls through a real stdio pool (mcpfort-everything
// as the process) and checks the pool's spans: a 2026-07-28 call whose
// per-session process starts for it has a "stdio process start" span
// under its CLIENT span; a legacy call on a per-user pool, which starts
// its process in the background, has the "stdio queue wait" it spent
// waiting and the start, both under the CLIENT span; a second call on the
// running process has neither. The histograms count the same.
func TestStdioSpans(t *testing.T) {
	bin := everything(t)
	var reader *sdkmetric.ManualReader
	tel, exp := newTest(t, Options{testMetrics: func(p sdkmetric.Producer) sdkmetric.Reader {
		reader = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
		return reader
	}})
	newPool := func(iso stdio.Isolation, kind string) *stdio.Pool {
		p, err := stdio.New(stdio.Options{Command: []string{bin}, Isolation: iso, Observer: tel.Stdio("r", kind)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close(context.Background()) })
		return p
	}
	sessions, stateless := newPool(stdio.PerUser, "sessions"), newPool(stdio.PerSession, "stateless")
	up, err := local.New(local.Options{Sessions: sessions, Stateless: stateless})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close(context.Background()) })
	principal := &gateway.Principal{Issuer: "https://idp", Subject: "u"}
	const echo = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
	const echoModern = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`

	children := func(spans tracetest.SpanStubs, parent tracetest.SpanStub) map[string]tracetest.SpanStub {
		out := map[string]tracetest.SpanStub{}
		for _, s := range spans {
			if s.Parent.SpanID() == parent.SpanContext.SpanID() && s.SpanContext.TraceID() == parent.SpanContext.TraceID() {
				out[s.Name] = s
			}
		}
		return out
	}
	check := func(name string, wantWait, wantStart bool, pool string) {
		t.Helper()
		spans := exp.GetSpans()
		exp.Reset()
		server := spanNamed(t, spans, "tools/call echo", trace.SpanKindServer)
		client := spanNamed(t, spans, "tools/call echo", trace.SpanKindClient)
		if client.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Fatalf("%s: CLIENT span is not under the SERVER span", name)
		}
		kids := children(spans, client)
		wait, hasWait := kids[SpanStdioQueueWait]
		start, hasStart := kids[SpanStdioProcessStart]
		if hasWait != wantWait || hasStart != wantStart {
			t.Fatalf("%s: CLIENT span's children %v, want queue wait %v, process start %v", name, keys(kids), wantWait, wantStart)
		}
		for _, s := range []tracetest.SpanStub{wait, start} {
			if s.Name == "" {
				continue
			}
			if attr(s, AttrRoute) != "r" || attr(s, AttrPool) != pool {
				t.Errorf("%s: %s attributes %v", name, s.Name, s.Attributes)
			}
			if !s.EndTime.After(s.StartTime) || s.StartTime.Before(client.StartTime) || s.EndTime.After(client.EndTime) {
				t.Errorf("%s: %s from %v to %v, outside its CLIENT span %v to %v", name, s.Name, s.StartTime, s.EndTime, client.StartTime, client.EndTime)
			}
		}
		if hasWait && hasStart && (start.StartTime.Before(wait.StartTime) || start.EndTime.After(wait.EndTime)) {
			t.Errorf("%s: the start %v-%v is not within the wait %v-%v for it", name, start.StartTime, start.EndTime, wait.StartTime, wait.EndTime)
		}
	}

	modern := call(t, echoModern, principal, nil)
	if out := runUpstream(t, tel, up, modern, ""); !strings.Contains(out, "hi") {
		t.Fatalf("stateless call answered %s", out)
	}
	check("stateless first call", false, true, "stateless")
	runUpstream(t, tel, up, call(t, echoModern, principal, nil), "")
	check("stateless second call", false, false, "stateless")

	legacy := call(t, echo, principal, nil)
	legacy.Era, legacy.Version = mcp.EraLegacy, "2025-11-25"
	if out := runUpstream(t, tel, up, legacy, "session-1"); !strings.Contains(out, "hi") {
		t.Fatalf("legacy call answered %s", out)
	}
	check("per-user first call", true, true, "sessions")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok || (m.Name != MetricStdioQueueWait && m.Name != MetricStdioStartDuration) {
				continue
			}
			counts[m.Name] = map[string]uint64{}
			for _, dp := range h.DataPoints {
				pool, _ := dp.Attributes.Value(AttrPool)
				result, _ := dp.Attributes.Value(AttrResult)
				if result.AsString() != "ok" {
					t.Errorf("%s: result %q", m.Name, result.AsString())
				}
				counts[m.Name][pool.AsString()] += dp.Count
			}
		}
	}
	want := map[string]map[string]uint64{
		MetricStdioStartDuration: {"stateless": 1, "sessions": 1},
		MetricStdioQueueWait:     {"sessions": 1},
	}
	for name, w := range want {
		for pool, n := range w {
			if counts[name][pool] != n {
				t.Errorf("%s{pool=%s} count %d, want %d (all %v)", name, pool, counts[name][pool], n, counts)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
