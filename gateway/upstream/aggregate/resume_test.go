package aggregate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway/upstream/aggregate"
)

// bufferingServer is a go-sdk server that keeps its sessions' events
// (an event store) so that streams can be resumed, and counts the GET
// streams open on it.
func bufferingServer(t *testing.T, name string) (*mcp.Server, string, *atomic.Int32) {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "t0"}, func(context.Context, *mcp.CallToolRequest, textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	var gets atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
			defer gets.Add(-1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return srv, ts.URL, &gets
}

func addTool(srv *mcp.Server, name string) {
	mcp.AddTool(srv, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
}

func addPrompt(srv *mcp.Server, name string) {
	srv.AddPrompt(&mcp.Prompt{Name: name}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{}, nil
	})
}

// rawPoster opens a legacy session on the gateway at url with plain
// HTTP, and returns its id and a function that POSTs a message in it.
func rawPoster(t *testing.T, url string) (sid string, post func(body string) *http.Response) {
	t.Helper()
	send := func(sid, body string) *http.Response {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := send("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	sid = resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	if sid == "" {
		t.Fatalf("initialize: %d, no session", resp.StatusCode)
	}
	send(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`).Body.Close()
	return sid, func(body string) *http.Response { return send(sid, body) }
}

// rawSession opens a legacy session on the gateway at url with plain
// HTTP, and returns a function that opens its GET stream with a
// Last-Event-ID ("" for none).
func rawSession(t *testing.T, url string) func(ctx context.Context, lastEventID string) *http.Response {
	t.Helper()
	sid, _ := rawPoster(t, url)
	return func(ctx context.Context, lastEventID string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		if lastEventID != "" {
			req.Header.Set("Last-Event-Id", lastEventID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// waitZero waits until n is zero: the members saw the gateway's side of
// a stream close.
func waitZero(t *testing.T, what string, n *atomic.Int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d GET streams still open", what, n.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestResumeMergedStream: a client that loses the session's merged GET
// stream after one member's list_changed resumes it with that event's id
// and gets what both members sent meanwhile, once each and nothing
// before its id; hostile ids are refused cleanly, and an id a member
// cannot resume from opens that member's stream anew.
func TestResumeMergedStream(t *testing.T) {
	srvA, urlA, getsA := bufferingServer(t, "a")
	srvB, urlB, getsB := bufferingServer(t, "b")
	agg := newAggregate(t, 5*time.Second,
		aggregate.Member{Name: "a", Prefix: "a_", Upstream: remoteUp(t, urlA)},
		aggregate.Member{Name: "b", Prefix: "b_", Upstream: remoteUp(t, urlB)},
	)
	url := serveGateway(t, agg)
	get := rawSession(t, url)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gctx, gcancel := context.WithCancel(ctx)
	resp := get(gctx, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	addTool(srvA, "t1")
	first := readEvents(resp, 1)
	gcancel()
	if len(first) != 1 || !strings.Contains(first[0].data, "notifications/tools/list_changed") {
		t.Fatalf("first events = %+v", first)
	}
	last := first[0].id
	if last == "" {
		t.Fatal("merged event without an id: the stream cannot be resumed")
	}
	waitZero(t, "a", getsA)
	waitZero(t, "b", getsB)

	// Meanwhile both members change.
	addPrompt(srvB, "p1")
	addTool(srvA, "t2")

	resp = get(ctx, last)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	var tools, prompts int
	var ids []string
	streamEvents(resp, func(ev sseEvent) bool {
		switch {
		case strings.Contains(ev.data, "notifications/tools/list_changed"):
			tools++
		case strings.Contains(ev.data, "notifications/prompts/list_changed"):
			prompts++
		}
		if ev.id == "" || ev.id == last {
			t.Errorf("resumed event id %q (last %q)", ev.id, last)
		}
		ids = append(ids, ev.id)
		return tools+prompts < 2
	})
	if tools != 1 || prompts != 1 {
		t.Fatalf("resumed stream: %d tools/list_changed, %d prompts/list_changed, want 1 each (ids %q)", tools, prompts, ids)
	}
	waitZero(t, "a", getsA)
	waitZero(t, "b", getsB)

	// The latest id resumes past everything: a new change arrives alone.
	resp = get(ctx, ids[len(ids)-1])
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second resume: %d", resp.StatusCode)
	}
	addPrompt(srvB, "p2")
	next := readEvents(resp, 1)
	if len(next) != 1 || !strings.Contains(next[0].data, "notifications/prompts/list_changed") {
		t.Fatalf("after the second resume: %+v", next)
	}
	waitZero(t, "a", getsA)
	waitZero(t, "b", getsB)

	for _, id := range []string{
		"m2.1.x",                         // no such member
		"m0.9.abc",                       // length past the end
		"m1.3._0_0.3._0_",                // members out of order
		"m0.3._0_0.3._0_",                // a member twice
		"m0.0.",                          // empty id
		"m0.3._0_x",                      // trailing bytes
		"m-1.1.x",                        // negative index
		"m99999999999999999999.1.x",      // overflowing index
		"m0.99999999999999999999.x",      // overflowing length
		"m0." + strings.Repeat("9", 300), // oversized
	} {
		resp := get(ctx, id)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || resp.StatusCode >= 500 {
			t.Errorf("Last-Event-ID %q: %d, want a 4xx refusal", id, resp.StatusCode)
		}
	}
	// An id no member can resume from: each member's stream opens anew
	// (which, for these servers, replays the session's events from the
	// start: a's two earlier changes, then the new one live).
	resp = get(ctx, "m0.5.bogus1.5.bogus")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unresumable id: %d", resp.StatusCode)
	}
	addTool(srvA, "t3")
	tools = 0
	streamEvents(resp, func(ev sseEvent) bool {
		if strings.Contains(ev.data, "notifications/tools/list_changed") && ev.id != "" {
			tools++
		}
		return tools < 3
	})
	if tools != 3 {
		t.Fatalf("after an unresumable id: %d tools/list_changed, want 3", tools)
	}
}
