package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// failingUpstream fails every exchange with err.
type failingUpstream struct{ err error }

func (f failingUpstream) Post(context.Context, *upstream.Request) (upstream.Reply, error) {
	return nil, f.err
}
func (f failingUpstream) Get(context.Context, *upstream.Request) (upstream.Reply, error) {
	return nil, f.err
}
func (f failingUpstream) Delete(context.Context, *upstream.Request) error { return f.err }
func (f failingUpstream) Close(context.Context) error                     { return nil }

// TestErrorCauseLoggedNotSent: an upstream failure reaches the client as
// the JSON-RPC error the protocol defines, while its cause (which may name
// internal hosts or paths) is logged once, with the route and request id,
// and never sent.
func TestErrorCauseLoggedNotSent(t *testing.T) {
	const secret = "dial tcp 10.1.2.3:443: connection refused"
	var logs bytes.Buffer
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: failingUpstream{errors.New(secret)}, Keyring: kr,
		UpstreamEra: gateway.EraModern, Logger: slog.New(slog.NewTextHandler(&logs, nil)).With("route", "r")})
	if err != nil {
		t.Fatal(err)
	}
	w := do(t, g, exchange{body: modernBody("tools/list", ""), headers: modernHeaders("tools/list", "")})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if code, _ := rpcError(t, w.Body.Bytes()); code != jsonrpc.CodeUpstreamUnavailable {
		t.Errorf("code %d, want the upstream-unavailable code; body %s", code, w.Body.Bytes())
	}
	if strings.Contains(w.Body.String(), "10.1.2.3") {
		t.Errorf("the cause reached the client: %s", w.Body.Bytes())
	}
	if n := strings.Count(logs.String(), secret); n != 1 {
		t.Errorf("cause logged %d times, want once:\n%s", n, logs.String())
	}
	// The route comes with the logger (Options.Logger), once.
	if strings.Count(logs.String(), "route=r") != 1 || !strings.Contains(logs.String(), "rpc_id=7") {
		t.Errorf("log lacks the route or the request id, or repeats the route:\n%s", logs.String())
	}
}

// TestPolicyErrorKeepsStatusAndHeaders: a policy's *gateway.Error is
// answered with its status and headers, and the id of the request it
// refuses; the policy's value is not changed (it may be shared).
func TestPolicyErrorKeepsStatusAndHeaders(t *testing.T) {
	refusal := &gateway.Error{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3"}},
		RPC: &jsonrpc.Error{Code: -32029, Message: "Too many requests"}}
	deny := func(gateway.Handler) gateway.Handler {
		return func(context.Context, *gateway.Call) (upstream.Reply, error) { return nil, refusal }
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: failingUpstream{errors.New("unused")}, Keyring: kr,
		UpstreamEra: gateway.EraModern, Middleware: []gateway.Middleware{deny}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w := do(t, g, exchange{body: modernBody("tools/list", ""), headers: modernHeaders("tools/list", "")})
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3" || !strings.Contains(w.Body.String(), `"id":7`) {
			t.Fatalf("status %d, Retry-After %q, body %s", w.Code, w.Header().Get("Retry-After"), w.Body.Bytes())
		}
	}
}
