package observe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// TestDecisionsWithMetricsOnly: with metrics on and tracing off, every
// policy's passes count as allow and a refusal as deny with its reason,
// the requests counter tells ok from refused, a policy wrapper reached
// without the SERVER middleware records nothing, and the call's
// Observation is left as it was found.
func TestDecisionsWithMetricsOnly(t *testing.T) {
	off := false
	tel, err := New(context.Background(), Options{Prometheus: true, Traces: Export{Enabled: &off}, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	if tel.Tracing() {
		t.Fatal("tracing on")
	}
	rec := &recorder{reply: []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`)}
	up := tel.Upstream(rec, UpstreamOptions{Route: "r"})
	dispatch := func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		req := upstream.Forward(c.Msg)
		req.ProtocolVersion = c.Version
		return up.Post(ctx, req)
	}
	pass := func(next gateway.Handler) gateway.Handler { return next }
	refuseX := func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Params.Name == "x" {
				return nil, &gateway.Error{Status: http.StatusTooManyRequests, RPC: jsonrpc.NewError(-31002, "rate limited")}
			}
			return next(ctx, c)
		}
	}
	chain := tel.Policy("audit", pass)(tel.Policy(PolicyRateLimit, refuseX)(tel.Policy("pii", pass)(dispatch)))
	h := tel.Middleware("r")(chain)
	for _, name := range []string{"echo", "x", "echo", "x", "echo"} {
		c := call(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+name+`"}}`, nil, nil)
		reply, err := h(context.Background(), c)
		if c.Observation != nil {
			t.Fatalf("Observation left on the call: %v", c.Observation)
		}
		if name == "x" {
			if err == nil {
				t.Fatal("refusal lost")
			}
			continue
		}
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
	// Without the SERVER middleware: not observed.
	if _, err := chain(context.Background(), call(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`, nil, nil)); err != nil {
		t.Fatal(err)
	}

	req := httptest.NewRequest("GET", "/metrics", nil)
	w := httptest.NewRecorder()
	tel.PrometheusHandler().ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	page := string(b)
	for _, want := range []string{
		`mcpfort_policy_decisions_total{mcpfort_decision="allow",mcpfort_policy="audit"} 5`,
		`mcpfort_policy_decisions_total{mcpfort_decision="allow",mcpfort_policy="rate_limit"} 3`,
		`mcpfort_policy_decisions_total{mcpfort_decision="deny",mcpfort_policy="rate_limit",mcpfort_reason="-31002"} 2`,
		`mcpfort_policy_decisions_total{mcpfort_decision="allow",mcpfort_policy="pii"} 3`,
		`mcpfort_requests_total{mcp_method_name="tools/call",mcpfort_outcome="ok",mcpfort_route="r"} 3`,
		`mcpfort_requests_total{mcp_method_name="tools/call",mcpfort_outcome="refused",mcpfort_route="r"} 2`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("no %s in:\n%s", want, grepLines(page, "mcpfort_policy_decisions_total", "mcpfort_requests_total"))
		}
	}
}

func grepLines(page string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestParamsName: the tool or prompt name of a CLIENT operation, from
// the members the message's decoding found or, for a message built
// without them, from its params; absent or not a string, none.
func TestParamsName(t *testing.T) {
	for raw, want := range map[string]string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"inner"},"name":"echo"}}`: "echo",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\u0062c"}}`:                          "abc",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}`:                                   "",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"inner"}}}`:               "",
	} {
		m, err := jsonrpc.Decode([]byte(raw), jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := m.ParamsMembers(); !ok {
			t.Fatalf("%s: no members", raw)
		}
		if got := paramsName(m); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
		bare := &jsonrpc.Message{Kind: m.Kind, ID: m.ID, Method: m.Method, Params: m.Params, Raw: m.Raw}
		if got := paramsName(bare); got != want {
			t.Errorf("%s without members: %q, want %q", raw, got, want)
		}
	}
}
