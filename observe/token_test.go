package observe

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/transport"
)

// TestTokenValidationSpan checks that a request's token validation becomes
// a child span of its SERVER span, timed as the validation was, with
// whether the cache answered; and that without tracing no timestamp is
// taken for it.
func TestTokenValidationSpan(t *testing.T) {
	const msg = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}}`
	principal := &gateway.Principal{Issuer: "https://idp", Subject: "u"}
	answer := func(context.Context, *gateway.Call) (upstream.Reply, error) {
		return upstream.Message([]byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`)), nil
	}
	for _, hit := range []bool{true, false} {
		tel, exp := newTest(t, Options{})
		rl := &transport.RequestLog{}
		ctx := transport.WithRequestLog(context.Background(), rl)
		const took = 3 * time.Millisecond
		tel.TokenValidated(ctx, hit, nil, took)
		reply, err := tel.Middleware("r")(answer)(ctx, call(t, msg, principal, nil))
		if err != nil {
			t.Fatal(err)
		}
		reply.Close()
		spans := exp.GetSpans()
		server := spanNamed(t, spans, "tools/call echo", trace.SpanKindServer)
		tok := spanNamed(t, spans, SpanTokenValidation, trace.SpanKindInternal)
		if tok.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("token validation span's parent %s, want the SERVER span %s", tok.Parent.SpanID(), server.SpanContext.SpanID())
		}
		want := map[bool]string{true: "hit", false: "miss"}[hit]
		if got := attr(tok, AttrCache); got != want {
			t.Errorf("%s = %q, want %q", AttrCache, got, want)
		}
		if d := tok.EndTime.Sub(tok.StartTime); d != took {
			t.Errorf("token validation span lasts %v, want %v", d, took)
		}
		if tok.EndTime.After(server.StartTime) {
			t.Errorf("validation ends at %v, after its request's SERVER span began (%v)", tok.EndTime, server.StartTime)
		}
		if len(server.Events) != 0 {
			t.Errorf("SERVER span has events %v", server.Events)
		}
	}

	// Without tracing the validation is counted, and no time is taken.
	tel, err := New(context.Background(), Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	rl := &transport.RequestLog{}
	tel.TokenValidated(transport.WithRequestLog(context.Background(), rl), true, nil, time.Millisecond)
	if rl.TokenCache != "hit" || !rl.TokenStart.IsZero() {
		t.Errorf("without tracing: %+v", rl)
	}
}
