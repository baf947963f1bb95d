package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		opts ratelimit.Options
		want []string // substrings of the error, all of them reported
	}{
		{"zero value", ratelimit.Options{}, nil},
		{"valid", ratelimit.Options{Rules: []ratelimit.Rule{{Name: "a", By: []ratelimit.Dimension{ratelimit.BySubject, ratelimit.ByTool}, Limit: 10, Period: time.Minute}}, Costs: []ratelimit.Cost{{Tool: "big_*", Cost: 5}}}, nil},
		{"every problem at once", ratelimit.Options{Rules: []ratelimit.Rule{
			{Limit: 1, Period: time.Second},
			{Name: "dup", Limit: 1, Period: time.Second},
			{Name: "dup", Limit: 0, Period: -1},
			{Name: "dims", By: []ratelimit.Dimension{"ip", ratelimit.ByTool, ratelimit.ByTool}, Limit: 1, Period: time.Second},
			{Name: "fast", Limit: 10_000_000, Period: time.Second},
			{Name: "tool-not-counted", By: []ratelimit.Dimension{ratelimit.ByTool}, Limit: 1, Period: time.Second, Methods: []string{"prompts/get"}},
			{Name: "tools-not-counted", Tools: []string{"ev_*"}, Limit: 1, Period: time.Second, Methods: []string{"prompts/get"}},
			{Name: "bad-tools", Tools: []string{""}, Limit: 1, Period: time.Second},
		}}, []string{
			"rules[0].name: required", `rules[2].name: "dup" is used twice`, "rules[2].limit", "rules[2].period",
			`unknown dimension "ip"`, `"tool" listed twice`, "more than one call per microsecond", "keyed by tool but does not count tools/call",
			"rules[6]: limits tools but does not count tools/call", "rules[7].tools[0]: bad pattern",
		}},
		{"cost above burst", ratelimit.Options{Rules: []ratelimit.Rule{{Name: "a", Limit: 10, Burst: 2, Period: time.Second}}, Costs: []ratelimit.Cost{{Tool: "big", Cost: 3}}}, []string{`tool "big" costs 3, more than the burst of 2`}},
		{"bad cost", ratelimit.Options{Costs: []ratelimit.Cost{{Tool: "", Cost: 1}, {Tool: "x", Cost: -1}}}, []string{"costs[0].tool", "costs[1].cost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ratelimit.New(tt.opts)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func call(t *testing.T, method, name string, kind jsonrpc.Kind, p *gateway.Principal, route string) *gateway.Call {
	t.Helper()
	var raw string
	switch kind {
	case jsonrpc.KindRequest:
		raw = fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":%q,"params":{"name":%q}}`, method, name)
	case jsonrpc.KindNotification:
		raw = fmt.Sprintf(`{"jsonrpc":"2.0","method":%q}`, method)
	case jsonrpc.KindResponse:
		raw = `{"jsonrpc":"2.0","id":"s1","result":{}}`
	}
	m, err := jsonrpc.Decode([]byte(raw), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	params, _ := mcp.ParseParams(m.Params)
	return &gateway.Call{Route: route, Era: mcp.EraLegacy, Principal: p, Msg: m, Params: params}
}

// TestDecisions drives one Limiter through a scripted sequence of calls
// at a fixed instant.
func TestDecisions(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	l, err := ratelimit.New(ratelimit.Options{
		Rules: []ratelimit.Rule{
			{Name: "calls-per-user", By: []ratelimit.Dimension{ratelimit.BySubject}, Limit: 5, Period: time.Minute, Methods: []string{"tools/call"}},
			{Name: "lists-per-client", By: []ratelimit.Dimension{ratelimit.ByClient, ratelimit.ByServer}, Limit: 2, Period: time.Minute, Methods: []string{"tools/list"}},
			{Name: "per-tool", By: []ratelimit.Dimension{ratelimit.BySubject, ratelimit.ByTool}, Limit: 3, Period: time.Minute},
		},
		Costs: []ratelimit.Cost{{Tool: "free_*", Cost: 0}, {Tool: "heavy", Cost: 3}},
		Now:   func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) { return upstream.Accepted(), nil })
	alice := &gateway.Principal{Issuer: "i", Subject: "alice", ClientID: "app1"}
	alice2 := &gateway.Principal{Issuer: "i", Subject: "alice", ClientID: "app2"}
	otherIssuer := &gateway.Principal{Issuer: "j", Subject: "alice", ClientID: "app1"}
	steps := []struct {
		name  string
		c     *gateway.Call
		limit bool
	}{
		{"heavy costs 3", call(t, "tools/call", "heavy", jsonrpc.KindRequest, alice, "r1"), false},
		{"heavy again exceeds per-tool", call(t, "tools/call", "heavy", jsonrpc.KindRequest, alice, "r1"), true},
		{"free tools cost nothing", call(t, "tools/call", "free_lunch", jsonrpc.KindRequest, alice, "r1"), false},
		{"echo 1", call(t, "tools/call", "echo", jsonrpc.KindRequest, alice, "r1"), false},
		{"echo 2 reaches 5", call(t, "tools/call", "echo", jsonrpc.KindRequest, alice, "r1"), false},
		{"per-user exhausted, any client", call(t, "tools/call", "echo", jsonrpc.KindRequest, alice2, "r2"), true},
		{"same subject at another issuer is another user", call(t, "tools/call", "echo", jsonrpc.KindRequest, otherIssuer, "r1"), false},
		{"notifications never count", call(t, "notifications/cancelled", "", jsonrpc.KindNotification, alice, "r1"), false},
		{"responses never count", call(t, "", "", jsonrpc.KindResponse, alice, "r1"), false},
		{"list 1", call(t, "tools/list", "", jsonrpc.KindRequest, alice, "r1"), false},
		{"list 2", call(t, "tools/list", "", jsonrpc.KindRequest, alice, "r1"), false},
		{"list 3 same client and server", call(t, "tools/list", "", jsonrpc.KindRequest, alice, "r1"), true},
		{"list on another server", call(t, "tools/list", "", jsonrpc.KindRequest, alice, "r2"), false},
		{"list from another client", call(t, "tools/list", "", jsonrpc.KindRequest, alice2, "r1"), false},
		{"anonymous callers share a bucket", call(t, "tools/list", "", jsonrpc.KindRequest, nil, "r1"), false},
		{"anonymous 2", call(t, "tools/list", "", jsonrpc.KindRequest, nil, "r1"), false},
		{"anonymous 3", call(t, "tools/list", "", jsonrpc.KindRequest, nil, "r1"), true},
	}
	for _, st := range steps {
		_, err := h(context.Background(), st.c)
		var ge *gateway.Error
		limited := errors.As(err, &ge)
		if limited != st.limit || (err != nil && !limited) {
			t.Fatalf("%s: err = %v, want limited %v", st.name, err, st.limit)
		}
		if limited {
			var data struct {
				RetryAfter int `json:"retryAfter"`
			}
			if ge.Status != http.StatusTooManyRequests || ge.RPC.Code != jsonrpc.CodeRateLimited || json.Unmarshal(ge.RPC.Data, &data) != nil || data.RetryAfter < 1 ||
				ge.Header.Get("Retry-After") != fmt.Sprint(data.RetryAfter) {
				t.Fatalf("%s: refusal %+v %s", st.name, ge, ge.RPC.Data)
			}
		}
	}
	if got, want := l.Stats(), (ratelimit.Stats{Allowed: 11, Limited: 4}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// TestToolsRule: a rule limited to some tools (one virtual-server
// upstream's prefix) counts only calls of those tools.
func TestToolsRule(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	l, err := ratelimit.New(ratelimit.Options{
		Rules: []ratelimit.Rule{{Name: "ev-budget", By: []ratelimit.Dimension{ratelimit.BySubject}, Limit: 2, Period: time.Minute, Tools: []string{"ev_*"}}},
		Now:   func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) { return upstream.Accepted(), nil })
	alice := &gateway.Principal{Issuer: "i", Subject: "alice", ClientID: "app1"}
	for i, st := range []struct {
		method, name string
		limit        bool
	}{
		{"tools/call", "ev_a", false}, {"tools/call", "fs_a", false}, {"tools/list", "", false},
		{"tools/call", "ev_b", false}, {"tools/call", "ev_a", true}, {"tools/call", "fs_b", false}, {"prompts/get", "ev_p", false},
	} {
		_, err := h(context.Background(), call(t, st.method, st.name, jsonrpc.KindRequest, alice, "r"))
		if (err != nil) != st.limit {
			t.Fatalf("step %d %s %s: %v, want limited %v", i, st.method, st.name, err, st.limit)
		}
	}
}

// TestRetryAfterRoundsUp checks that a wait under a second is announced as
// one second, never zero.
func TestRetryAfterRoundsUp(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	l, _ := ratelimit.New(ratelimit.Options{Rules: []ratelimit.Rule{{Name: "r", Limit: 10, Period: time.Second}}, Now: func() time.Time { return now }})
	h := l.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) { return upstream.Accepted(), nil })
	var err error
	for range 11 {
		_, err = h(context.Background(), call(t, "ping", "", jsonrpc.KindRequest, nil, "r"))
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Header.Get("Retry-After") != "1" || string(ge.RPC.Data) != `{"retryAfter":1}` {
		t.Fatalf("got %v", err)
	}
}

// rawModernCall posts a 2026-07-28 tools/call and returns the status,
// Retry-After and body.
func rawModernCall(t *testing.T, url string, h http.Header, tool string) (int, string, string) {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"text":"x"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`, tool)
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", tool)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestThroughGateway runs the Limiter in a real gateway, in every era: a
// user's calls are limited across sessions (a new session does not reset
// the limit) and another user is unaffected.
func TestThroughGateway(t *testing.T) {
	for _, era := range policytest.Eras {
		t.Run(era.Name, func(t *testing.T) {
			l, err := ratelimit.New(ratelimit.Options{Rules: []ratelimit.Rule{
				{Name: "per-user", By: []ratelimit.Dimension{ratelimit.BySubject, ratelimit.ByServer}, Limit: 3, Period: time.Hour, Methods: []string{"tools/call"}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			up := policytest.NewUpstream(t, era.Stateless)
			gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
			alice := policytest.Identity("alice", "app")
			callEcho := func(hdr http.Header) error {
				cs := policytest.Connect(t, gw.URL, era, policytest.Client(hdr, nil))
				_, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
				return err
			}
			for i := range 3 {
				if err := callEcho(alice); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if err := callEcho(alice); err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
				t.Fatalf("4th call in a new session: %v, want Too Many Requests", err)
			}
			if err := callEcho(policytest.Identity("bob", "app")); err != nil {
				t.Fatalf("bob: %v", err)
			}
			if era.Name == "modern" {
				status, retry, body := rawModernCall(t, gw.URL, alice, "echo")
				var msg struct {
					ID    int `json:"id"`
					Error struct {
						Code int64 `json:"code"`
						Data struct {
							RetryAfter int `json:"retryAfter"`
						} `json:"data"`
					} `json:"error"`
				}
				if err := json.Unmarshal([]byte(body), &msg); err != nil {
					t.Fatalf("body %q: %v", body, err)
				}
				if diff := cmp.Diff([]any{429, fmt.Sprint(msg.Error.Data.RetryAfter), 1, int64(jsonrpc.CodeRateLimited)}, []any{status, retry, msg.ID, msg.Error.Code}); diff != "" || msg.Error.Data.RetryAfter < 1000 {
					t.Fatalf("raw refusal (-want +got):\n%s\nbody %s", diff, body)
				}
			}
			if st := l.Stats(); st.Limited < 1 || st.Allowed < 4 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
