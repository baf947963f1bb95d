//lint:file-ignore SA1019 the bridge carries sampling across eras, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
	"github.com/mcpfort/mcpfort/internal/everything"
)

// forcedGateway fronts the conformance target (both eras) over HTTP with the
// upstream's era forced, so that every call of the other era crosses the
// bridge.
func forcedGateway(t *testing.T, era gateway.UpstreamEra) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(everythingHandler(t))
	t.Cleanup(up.Close)
	rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "everything", Upstream: rem, Keyring: kr, UpstreamEra: era})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	return ts
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestModernClientLegacyUpstreamErrors: through the bridge, a 2026-07-28
// client sees the versions, error codes and HTTP statuses a 2026-07-28
// server gives (streamable-http "Request Metadata"; basic/versioning), not
// the legacy upstream's: server/discover lists every version the gateway
// serves, and an UnsupportedProtocolVersionError lists no other; an
// unknown method (which the legacy upstream refuses with a bare HTTP 400)
// is -32601 with 404, a removed tasks method likewise; a missing client
// capability (-32021) is 400.
func TestModernClientLegacyUpstreamErrors(t *testing.T) {
	gw := forcedGateway(t, gateway.EraLegacy)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	resp := modernPost(t, ctx, gw.URL, "server/discover", "", "")
	var disc struct {
		Result struct {
			SupportedVersions []string `json:"supportedVersions"`
		} `json:"result"`
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || json.Unmarshal(body, &disc) != nil {
		t.Fatalf("server/discover: %d %s", resp.StatusCode, body)
	}
	if !slices.Contains(disc.Result.SupportedVersions, "2026-07-28") || !slices.Contains(disc.Result.SupportedVersions, "2025-11-25") {
		t.Fatalf("supportedVersions = %v", disc.Result.SupportedVersions)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL, stringsReader(`{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"v999","io.modelcontextprotocol/clientCapabilities":{}}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "v999")
	req.Header.Set("Mcp-Method", "server/discover")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	code, data := rpcError(t, body)
	var vdata struct{ Supported []string }
	_ = json.Unmarshal(data, &vdata)
	if resp.StatusCode != 400 || code != -32022 || len(vdata.Supported) == 0 {
		t.Fatalf("unsupported version: %d %s", resp.StatusCode, body)
	}
	for _, v := range vdata.Supported {
		if !slices.Contains(disc.Result.SupportedVersions, v) {
			t.Fatalf("the error lists %q, server/discover does not (%v)", v, disc.Result.SupportedVersions)
		}
	}

	for _, tc := range []struct {
		method, name, params string
		status               int
		code                 int64
	}{
		{"unknown/method", "", "", 404, -32601},
		{"tasks/list", "", "", 404, -32601},
		{"tasks/result", "", `"taskId":"t1"`, 404, -32601},
		{"tools/call", "test_missing_capability", `"name":"test_missing_capability","arguments":{}`, 400, -32021},
	} {
		resp := modernPost(t, ctx, gw.URL, tc.method, tc.name, tc.params)
		body := readAll(t, resp)
		if code, _ := rpcError(t, body); resp.StatusCode != tc.status || code != tc.code {
			t.Errorf("%s %s: HTTP %d code %d (%s), want HTTP %d code %d", tc.method, tc.name, resp.StatusCode, code, body, tc.status, tc.code)
		}
	}
	// An ordinary call still succeeds, as plain JSON.
	resp = modernPost(t, ctx, gw.URL, "tools/call", "echo", `"name":"echo","arguments":{"text":"hi"}`)
	if body := readAll(t, resp); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("echo: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// TestLegacyClientModernUpstreamInput: a legacy client's call to a
// stateless upstream that answers with an InputRequiredResult gets the
// matching elicitation/create and sampling/createMessage requests on the
// call's stream, and its answers complete the call (the gateway retries it
// upstream with inputResponses), through the go-sdk client.
func TestLegacyClientModernUpstreamInput(t *testing.T) {
	gw := forcedGateway(t, gateway.EraModern)
	var elicited, sampled atomic.Int32
	var mu sync.Mutex
	var keys []any
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			elicited.Add(1)
			mu.Lock()
			keys = append(keys, req.Params.GetMeta()[gateway.InputKeyMeta])
			mu.Unlock()
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "ada", "email": "ada@example.com"}}, nil
		},
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			sampled.Add(1)
			mu.Lock()
			keys = append(keys, req.Params.GetMeta()[gateway.InputKeyMeta])
			mu.Unlock()
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "Paris"}}, nil
		},
	})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: gw.URL, DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_elicitation", Arguments: map[string]any{"message": "who?"}})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "ada@example.com") || elicited.Load() != 1 {
		t.Fatalf("elicitation result %q after %d elicitations", text, elicited.Load())
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "capital?"}})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "Paris") || sampled.Load() != 1 {
		t.Fatalf("sampling result %q after %d samplings", text, sampled.Load())
	}
	// Each request names the key the upstream gave it, so that a
	// 2026-07-28 client behind another bridge retries under that key.
	mu.Lock()
	defer mu.Unlock()
	if want := []any{"user_input", "sampling"}; !slices.Equal(keys, want) {
		t.Errorf("input keys %v, want %v", keys, want)
	}
}

// TestLegacyClientModernUpstreamTransport: a legacy client's call on a
// stateless upstream is answered as JSON when the answer is all there is,
// although the upstream streamed it, and as a stream without event ids
// (nothing to resume: the upstream keeps no events) when notifications
// come first.
func TestLegacyClientModernUpstreamTransport(t *testing.T) {
	gw := forcedGateway(t, gateway.EraModern)
	c := &rawClient{t: t, url: gw.URL}
	c.initialize("2025-11-25")

	resp := c.post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"test_reconnection","arguments":{}}}`)
	b := readAll(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || !strings.Contains(string(b), `"id":1,"result"`) {
		t.Fatalf("lone answer: %s %q", ct, b)
	}

	resp = c.post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p"}}}`)
	b = readAll(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("with progress: %s %q", ct, b)
	}
	if !strings.Contains(string(b), "notifications/progress") || !strings.Contains(string(b), `"id":2,"result"`) || strings.Contains(string(b), "\nid:") || strings.HasPrefix(string(b), "id:") || strings.Contains(string(b), "\nretry:") {
		t.Fatalf("with progress: %q", b)
	}
}

// TestLegacyClientInputAnswerOtherSession: the answer to a request the
// gateway sent for a bridged call counts only from the session the request
// went to: another session (of the same principal) posting a response with
// the same id changes nothing, and the call completes with the right
// session's answer.
func TestLegacyClientInputAnswerOtherSession(t *testing.T) {
	gw := forcedGateway(t, gateway.EraModern)
	c1 := &rawClient{t: t, url: gw.URL}
	c1.initializeWith("2025-11-25", `{"elicitation":{}}`)
	c2 := &rawClient{t: t, url: gw.URL}
	c2.initializeWith("2025-11-25", `{"elicitation":{}}`)
	resp := c1.post(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"test_elicitation","arguments":{"message":"who?"}}}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	events := make(chan sseEvent, 8)
	go streamEvents(resp, func(ev sseEvent) bool { events <- ev; return true })
	var ask struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	select {
	case ev := <-events:
		if err := json.Unmarshal([]byte(ev.data), &ask); err != nil || ask.Method != "elicitation/create" {
			t.Fatalf("first event %q", ev.data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no elicitation request")
	}
	answer := func(c *rawClient, user string) int {
		r := c.post(`{"jsonrpc":"2.0","id":` + string(ask.ID) + `,"result":{"action":"accept","content":{"username":"` + user + `","email":"x@example.com"}}}`)
		r.Body.Close()
		return r.StatusCode
	}
	if st := answer(c2, "mallory"); st != 202 {
		t.Fatalf("other session's response: %d", st)
	}
	select {
	case ev := <-events:
		t.Fatalf("the call went on after another session's answer: %q", ev.data)
	case <-time.After(300 * time.Millisecond):
	}
	if st := answer(c1, "ada"); st != 202 {
		t.Fatalf("response: %d", st)
	}
	select {
	case ev := <-events:
		if !strings.Contains(ev.data, `"id":9`) || !strings.Contains(ev.data, "ada") || strings.Contains(ev.data, "mallory") {
			t.Fatalf("result %q", ev.data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
	}
	// A replayed answer finds nothing to complete.
	if st := answer(c1, "again"); st != 202 {
		t.Fatalf("replayed response: %d", st)
	}
}

// TestLegacyClientUndeclaredInput: a 2026-07-28 upstream asking a legacy
// client for input it did not declare (the conformance target asks
// whatever the capabilities) gets the client nothing: the call fails with
// -32021 naming the capability, and no request reaches the stream.
func TestLegacyClientUndeclaredInput(t *testing.T) {
	gw := forcedGateway(t, gateway.EraModern)
	c := &rawClient{t: t, url: gw.URL}
	c.initializeWith("2025-11-25", `{"sampling":{}}`)
	// The error is all there is to say: it is answered as JSON.
	resp := c.post(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"test_elicitation","arguments":{"message":"who?"}}}`)
	b := readAll(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q: %q", ct, b)
	}
	code, data := rpcError(t, b)
	if code != -32021 || string(data) != `{"requiredCapabilities":{"elicitation":{"form":{}}}}` {
		t.Fatalf("answer %s", b)
	}
}

// irrGateways are two replicas (sharing session keys) fronting the
// conformance target as a legacy upstream, the principal taken from the
// X-Test-User header.
func irrGateways(t *testing.T) (a, b *httptest.Server) {
	t.Helper()
	up := httptest.NewServer(everythingHandler(t))
	t.Cleanup(up.Close)
	secret := session.GenerateSecret()
	var out []*httptest.Server
	for i := 0; i < 2; i++ {
		rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
		if err != nil {
			t.Fatal(err)
		}
		kr, _ := session.NewKeyring(secret)
		g, err := gateway.New(gateway.Options{Route: "everything", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy,
			Principal: func(ctx context.Context) *gateway.Principal {
				p, _ := ctx.Value(principalKey{}).(*gateway.Principal)
				return p
			}})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u := r.Header.Get("X-Test-User"); u != "" {
				r = r.WithContext(context.WithValue(r.Context(), principalKey{}, &gateway.Principal{Issuer: "https://as", Subject: u}))
			}
			g.ServeHTTP(w, r)
		}))
		t.Cleanup(ts.Close)
		out = append(out, ts)
	}
	return out[0], out[1]
}

type irrResult struct {
	Result struct {
		ResultType    string                     `json:"resultType"`
		InputRequests map[string]json.RawMessage `json:"inputRequests"`
		RequestState  string                     `json:"requestState"`
		Content       []struct{ Text string }    `json:"content"`
	} `json:"result"`
	Error *struct {
		Code int64 `json:"code"`
	} `json:"error"`
}

// irrCall calls a tool as user with the elicitation capability declared;
// extra is added to params (inputResponses, requestState).
func irrCall(t *testing.T, url, user, tool, extra string) irrResult {
	t.Helper()
	if extra != "" {
		extra += ","
	}
	body := `{"jsonrpc":"2.0","id":` + strconv.Itoa(int(irrID.Add(1))) + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":{},` + extra +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}`
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", tool)
	req.Header.Set("X-Test-User", user)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, resp)
	var r irrResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %d %q", tool, resp.StatusCode, b)
	}
	return r
}

var irrID atomic.Int32

const irrTool = "test_input_required_result_elicitation"

func askName(t *testing.T, url, user string) (key, state string) {
	t.Helper()
	r := irrCall(t, url, user, irrTool, "")
	if r.Result.ResultType != "input_required" || len(r.Result.InputRequests) != 1 || r.Result.RequestState == "" {
		t.Fatalf("first round: %+v (error %+v)", r, r.Error)
	}
	for k, v := range r.Result.InputRequests {
		if !strings.Contains(string(v), `"method":"elicitation/create"`) {
			t.Fatalf("input request %s", v)
		}
		key = k
	}
	return key, r.Result.RequestState
}

func answerName(key, state, name string) string {
	return `"requestState":"` + state + `","inputResponses":{"` + key + `":{"action":"accept","content":{"name":"` + name + `"}}}`
}

func wantInvalidState(t *testing.T, what string, r irrResult) {
	t.Helper()
	if r.Error == nil || r.Error.Code != -32602 {
		t.Fatalf("%s: %+v, want -32602", what, r)
	}
}

// TestModernClientLegacyUpstreamInput: a legacy upstream's elicitation
// reaches a 2026-07-28 client as an InputRequiredResult, and the retry with
// the answer completes the call; the requestState the gateway mints cannot
// be forged, altered, used by another principal or for another call,
// replayed, or used on a replica that does not hold the call.
func TestModernClientLegacyUpstreamInput(t *testing.T) {
	gw, other := irrGateways(t)

	key, state := askName(t, gw.URL, "alice")
	if key != "user_name" {
		// The upstream names its request with InputKeyMeta.
		t.Fatalf("input key %q, want the upstream's user_name", key)
	}
	// Forged and altered states are refused, and leave the real one valid.
	wantInvalidState(t, "forged", irrCall(t, gw.URL, "alice", irrTool, answerName(key, "mcpfort1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "eve")))
	altered := []byte(state)
	altered[len(altered)/2] ^= 0x01
	wantInvalidState(t, "altered", irrCall(t, gw.URL, "alice", irrTool, answerName(key, string(altered), "eve")))
	// Another principal cannot use it.
	wantInvalidState(t, "another principal", irrCall(t, gw.URL, "bob", irrTool, answerName(key, state, "bob")))
	// The owner can.
	r := irrCall(t, gw.URL, "alice", irrTool, answerName(key, state, "ada"))
	if r.Error != nil || r.Result.ResultType != "complete" || len(r.Result.Content) == 0 || r.Result.Content[0].Text != "Hello, ada!" {
		t.Fatalf("retry: %+v", r)
	}
	// Once.
	wantInvalidState(t, "replayed", irrCall(t, gw.URL, "alice", irrTool, answerName(key, state, "ada")))

	// A state used for another call ends the waiting call.
	key, state = askName(t, gw.URL, "alice")
	wantInvalidState(t, "another tool", irrCall(t, gw.URL, "alice", "test_input_required_result_request_state", answerName(key, state, "ada")))
	wantInvalidState(t, "after misuse", irrCall(t, gw.URL, "alice", irrTool, answerName(key, state, "ada")))

	// A replica that does not hold the call refuses it (it opens the
	// state, sealed with the shared keys, but has no call to continue).
	key, state = askName(t, gw.URL, "alice")
	wantInvalidState(t, "another replica", irrCall(t, other.URL, "alice", irrTool, answerName(key, state, "ada")))

	// A retry without the answer is asked again, with a new state.
	r = irrCall(t, gw.URL, "alice", irrTool, `"requestState":"`+state+`","inputResponses":{}`)
	if r.Result.ResultType != "input_required" || r.Result.RequestState == "" || r.Result.RequestState == state {
		t.Fatalf("missing answer: %+v", r)
	}
	if _, ok := r.Result.InputRequests[key]; !ok {
		t.Fatalf("missing answer not asked again: %+v", r.Result.InputRequests)
	}
	r = irrCall(t, gw.URL, "alice", irrTool, answerName(key, r.Result.RequestState, "grace"))
	if r.Error != nil || len(r.Result.Content) == 0 || r.Result.Content[0].Text != "Hello, grace!" {
		t.Fatalf("retry after re-request: %+v", r)
	}
}

// TestStdioAbandonedInputWait: through a local upstream, where a server
// request is attributed to the only call in flight on its session, calls
// left waiting for input (the client never retries) do not stop later
// calls of the same principal from getting their own input requests: new
// calls pass over sessions holding a waiting call.
func TestStdioAbandonedInputWait(t *testing.T) {
	bin := buildTestServer(t)
	pool, err := stdio.New(stdio.Options{Command: []string{bin}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := local.New(local.Options{Sessions: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close(context.Background())
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: up, Keyring: kr, UpstreamEra: gateway.EraLegacy})
	if err != nil {
		t.Fatal(err)
	}
	// Draining ends the calls still waiting, so that the pool can close.
	defer g.Drain()
	ts := httptest.NewServer(g)
	defer ts.Close()
	for i := 0; i < 3; i++ {
		key, state := askName(t, ts.URL, "")
		if i == 2 {
			r := irrCall(t, ts.URL, "", irrTool, answerName(key, state, "ada"))
			if r.Error != nil || len(r.Result.Content) == 0 || r.Result.Content[0].Text != "Hello, ada!" {
				t.Fatalf("retry after two abandoned calls: %+v", r)
			}
		}
	}
}

// TestStdioModernLogsWithOpenStream: a legacy session on a local stateless
// upstream keeps its GET stream open (bridged as a subscriptions/listen on
// the principal's process) while it calls a tool that logs: the logs reach
// the call's stream, since an open listen does not count when the pool
// attributes a message to the call in flight.
func TestStdioModernLogsWithOpenStream(t *testing.T) {
	bin := buildTestServer(t)
	var pools []*stdio.Pool
	for _, iso := range []stdio.Isolation{stdio.PerSession, stdio.PerSession} {
		p, err := stdio.New(stdio.Options{Command: []string{bin}, Isolation: iso})
		if err != nil {
			t.Fatal(err)
		}
		pools = append(pools, p)
	}
	up, err := local.New(local.Options{Sessions: pools[0], Stateless: pools[1]})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close(context.Background())
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: up, Keyring: kr, UpstreamEra: gateway.EraModern})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Drain()
	ts := httptest.NewServer(g)
	defer ts.Close()
	c := &rawClient{t: t, url: ts.URL}
	c.initialize("2025-11-25")
	readAll(t, c.post(`{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`))

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", c.sid)
	req.Header.Set("Mcp-Protocol-Version", c.version)
	get, err := http.DefaultClient.Do(req)
	if err != nil || get.StatusCode != 200 {
		t.Fatalf("GET: %v %v", get, err)
	}
	defer get.Body.Close()
	time.Sleep(200 * time.Millisecond) // the listen reaches the process

	resp := c.post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_tool_with_logging","arguments":{}}}`)
	logs := 0
	for _, ev := range readEvents(t, resp, -1) {
		if strings.Contains(ev.data, "notifications/message") {
			logs++
		}
	}
	if logs != 3 {
		t.Fatalf("%d log notifications on the call's stream, want 3", logs)
	}
}

// TestModernClientsSameIDLegacyUpstream: 2026-07-28 requests of one
// principal carrying the same JSON-RPC id, in flight at once through the
// principal's legacy upstream session, all succeed (the upstream sees ids
// of the gateway's) and each answer carries the client's id.
func TestModernClientsSameIDLegacyUpstream(t *testing.T) {
	gw := forcedGateway(t, gateway.EraLegacy)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan string, 4)
	for i := 0; i < 4; i++ {
		go func() {
			resp := modernPost(t, ctx, gw.URL, "tools/call", "test_tool_with_progress", `"name":"test_tool_with_progress","arguments":{}`)
			body := readAll(t, resp)
			var r struct {
				ID     int             `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			for _, line := range strings.Split(string(body), "\n") {
				line = strings.TrimPrefix(line, "data: ")
				if json.Unmarshal([]byte(line), &r) == nil && r.Result != nil {
					break
				}
			}
			if r.ID != 7 || r.Result == nil {
				errs <- string(body)
				return
			}
			errs <- ""
		}()
	}
	for i := 0; i < 4; i++ {
		if e := <-errs; e != "" {
			t.Errorf("call failed: %s", e)
		}
	}
}
