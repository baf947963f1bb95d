package observe

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/gateway"
)

// TestExemplarsCarryTraceIDs scrapes the Prometheus handler in the
// OpenMetrics format after a traced call and finds, on the operation
// duration histograms, an exemplar whose trace_id is the call's trace;
// the classic text format, which has no exemplars, is still served to a
// scraper that does not ask for OpenMetrics.
func TestExemplarsCarryTraceIDs(t *testing.T) {
	tel, exp := newTest(t, Options{Prometheus: true})
	rec := &recorder{reply: []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`)}
	const msg = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}}`
	run(t, tel, rec, call(t, msg, &gateway.Principal{Issuer: "https://idp", Subject: "u"}, nil), true)
	server := spanNamed(t, exp.GetSpans(), "tools/call echo", trace.SpanKindServer)
	client := spanNamed(t, exp.GetSpans(), "tools/call echo", trace.SpanKindClient)
	traceID := server.SpanContext.TraceID().String()

	scrape := func(accept string) (string, string) {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		tel.PrometheusHandler().ServeHTTP(w, req)
		b, _ := io.ReadAll(w.Result().Body)
		if w.Code != http.StatusOK {
			t.Fatalf("scrape: %d %s", w.Code, b)
		}
		return w.Result().Header.Get("Content-Type"), string(b)
	}
	ct, page := scrape("application/openmetrics-text; version=1.0.0")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type %q, want OpenMetrics", ct)
	}
	for _, tc := range []struct{ metric, spanID string }{
		{"mcp_server_operation_duration_seconds_bucket", server.SpanContext.SpanID().String()},
		{"mcp_client_operation_duration_seconds_bucket", client.SpanContext.SpanID().String()},
	} {
		re := regexp.MustCompile(`(?m)^` + tc.metric + `\{[^}]*mcp_method_name="tools/call"[^}]*\} \S+ # \{([^}]*)\}`)
		m := re.FindStringSubmatch(page)
		if m == nil {
			t.Errorf("no exemplar on %s:\n%s", tc.metric, page)
			continue
		}
		if !strings.Contains(m[1], `trace_id="`+traceID+`"`) || !strings.Contains(m[1], `span_id="`+tc.spanID+`"`) {
			t.Errorf("%s exemplar {%s}, want trace_id %s and span_id %s", tc.metric, m[1], traceID, tc.spanID)
		}
	}
	ct, page = scrape("")
	if !strings.HasPrefix(ct, "text/plain") || strings.Contains(page, "trace_id") {
		t.Errorf("classic scrape: Content-Type %q, exemplars present %v", ct, strings.Contains(page, "trace_id"))
	}
}
