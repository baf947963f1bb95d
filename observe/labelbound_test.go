package observe

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mcpfort/mcpfort/internal/textcut"
	"github.com/mcpfort/mcpfort/transport"
)

// A client names the method and the tool of its request: a metric label
// taken from them must stay bounded in length and in character set, or
// one client could fill the process's memory (up to maxPoints points per
// instrument, each holding a name as long as a request body) and inject
// what it likes into every scrape. Names that are not what MCP names are
// go to _OTHER (as the HTTP conventions do for methods); spans and audit
// records keep them, cut.
func TestClientNamesBoundedOnMetrics(t *testing.T) {
	var reader *sdkmetric.ManualReader
	tel, _ := newTest(t, Options{testMetrics: func(p sdkmetric.Producer) sdkmetric.Reader {
		reader = sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
		return reader
	}})
	long := strings.Repeat("a", 100000)
	for _, raw := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + long + `"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"evil\"} 1\n# injected"}}`,
		`{"jsonrpc":"2.0","id":4,"method":"x/` + long + `","params":{}}`,
		`{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"ünïcode prompt"}}`,
	} {
		run(t, tel, &recorder{reply: []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)}, call(t, raw, nil, nil), false)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			}
			for _, set := range sets {
				for _, kv := range set.ToSlice() {
					v := string(kv.Key) + "=" + kv.Value.String()
					if len(v) > 200 || strings.ContainsAny(v, "\n\"") {
						t.Errorf("%s: unbounded label %.80q", m.Name, v)
					}
					seen[v] = true
				}
			}
		}
	}
	for _, want := range []string{AttrGenAIToolName + "=get_weather", AttrGenAIToolName + "=_OTHER", AttrMCPMethodName + "=_OTHER", AttrGenAIPromptName + "=_OTHER"} {
		if !seen[want] {
			t.Errorf("no label %s", want)
		}
	}
}

func TestNameAndMethodLabels(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"get_weather":            "get_weather",
		"ns.tool-2":              "ns.tool-2",
		strings.Repeat("a", 128): strings.Repeat("a", 128),
		strings.Repeat("a", 129): labelOther,
		"has space":              labelOther,
		"quote\"":                labelOther,
		"line\nbreak":            labelOther,
		"ünïcode":                labelOther,
		"slash/name":             labelOther,
	} {
		if got := nameLabel(in); got != want {
			t.Errorf("nameLabel(%.40q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"tools/call": "tools/call", "notifications/progress": "notifications/progress", "": "",
		"x/custom": labelOther, "tools/call ": labelOther, "TOOLS/CALL": labelOther,
	} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// The access log keeps at most maxLogName bytes of a client's tool name,
// cut at a character boundary.
func TestAccessLogToolBounded(t *testing.T) {
	var logs strings.Builder
	tel, _ := newTest(t, Options{AccessLog: true, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for _, tc := range []struct{ tool, want string }{
		{"get_weather", `"tool":"get_weather"`},
		{strings.Repeat("a", 100000), `"tool":"` + strings.Repeat("a", maxLogName) + textcut.Mark + `"`},
		{strings.Repeat("a", maxLogName-1) + "é" + strings.Repeat("b", 10), `"tool":"` + strings.Repeat("a", maxLogName-1) + textcut.Mark + `"`},
	} {
		logs.Reset()
		h := tel.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			transport.RequestLogFrom(r.Context()).Tool = tc.tool
		}), HTTPOptions{})
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/mcp", nil))
		if !strings.Contains(logs.String(), tc.want) || len(logs.String()) > 1024 {
			t.Errorf("tool of %d bytes: access log %.300q", len(tc.tool), logs.String())
		}
	}
}

// Spans keep a client's names, cut to maxSpanValue bytes: a sampled span
// waits in memory for its export.
func TestClientNamesBoundedOnSpans(t *testing.T) {
	tel, exp := newTest(t, Options{})
	long := strings.Repeat("n", 100000)
	raw := `{"jsonrpc":"2.0","id":"` + long + `","method":"tools/call","params":{"name":"` + long + `"}}`
	run(t, tel, &recorder{reply: []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)}, call(t, raw, nil, nil), false)
	spans := exp.GetSpans()
	if len(spans) < 2 {
		t.Fatalf("%d spans", len(spans))
	}
	for _, s := range spans {
		if len(s.Name) > 2*maxSpanValue+8 {
			t.Errorf("span name of %d bytes", len(s.Name))
		}
		for _, a := range s.Attributes {
			if v := a.Value.AsString(); len(v) > maxSpanValue+len(textcut.Mark) {
				t.Errorf("span %.40q: attribute %s of %d bytes", s.Name, a.Key, len(v))
			}
		}
	}
}
