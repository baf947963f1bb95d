//lint:file-ignore SA1019 these tests exercise sampling and roots, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package pii_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
)

// serverEnv, when set in the environment, makes the test binary an MCP
// server over stdio that records what it receives in the file it names:
// the stdio upstream of the tests below.
const serverEnv = "MCPFORT_PII_TEST_SERVER"

func TestMain(m *testing.M) {
	if path := os.Getenv(serverEnv); path != "" {
		if err := pathsServer(fileRecorder(path)).Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fileRecorder appends each value, one line each, to the file at path.
func fileRecorder(path string) func(string) {
	var mu sync.Mutex
	return func(s string) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = f.WriteString(strings.ReplaceAll(s, "\n", " ") + "\n")
	}
}

// recorded returns the first value recorded in path that starts with
// prefix, waiting for it up to a deadline ("" if none came).
func recorded(t *testing.T, path, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				return v
			}
		}
		if time.Now().After(deadline) {
			return ""
		}
		time.Sleep(10 * time.Millisecond) // polling a file another process writes
	}
}

var objectSchema = json.RawMessage(`{"type":"object"}`)

func nameSchema() map[string]any {
	return map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}, "required": []string{"name"}}
}

// escapedEmail is carol@example.com with every character \u-escaped:
// raw bytes that are all letters, digits and backslashes, the shape the
// base64 test used to skip.
var escapedEmail = func() string {
	var b strings.Builder
	for _, c := range "carol@example.com" {
		fmt.Fprintf(&b, `\u%04x`, c)
	}
	return b.String()
}()

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// pathsServer is an upstream that puts personal data in every position a
// message can carry it, and records what reaches it from the client.
func pathsServer(record func(string)) *mcp.Server {
	// A client's notifications/roots/list_changed makes the server ask the
	// client something outside any request: on the session's GET stream.
	later := func(ctx context.Context, req *mcp.RootsListChangedRequest) {
		ss := req.Session
		go func() {
			res, err := ss.Elicit(context.Background(), &mcp.ElicitParams{Message: "Is ada@example.com still yours?", RequestedSchema: nameSchema()})
			if err != nil {
				record("later-error=" + err.Error())
				return
			}
			name, _ := res.Content["name"].(string)
			record("later=" + name)
		}()
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "pii-paths", Version: "1"}, &mcp.ServerOptions{RootsListChangedHandler: later})
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "records its text"}, func(ctx context.Context, req *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, any, error) {
		record("echo=" + a.Text)
		return text("ok"), nil, nil
	})
	srv.AddTool(&mcp.Tool{Name: "progress", Description: "reports progress", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2, Message: "mailing ada@example.com"})
		}
		return text("sent to ada@example.com"), nil
	})
	// ask needs client input (2026-07-28 basic/patterns/mrtr): the SDK
	// sends legacy clients real elicitation/create and
	// sampling/createMessage requests and returns 2026-07-28 clients an
	// input_required result.
	srv.AddTool(&mcp.Tool{Name: "ask", Description: "asks the client", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		in := req.Params.InputResponses
		if e, ok := in["who"].(*mcp.ElicitResult); ok && e != nil {
			name, _ := e.Content["name"].(string)
			record("elicit=" + name)
			switch r := in["gen"].(type) {
			case *mcp.CreateMessageResult:
				if tc, ok := r.Content.(*mcp.TextContent); ok {
					record("sample=" + tc.Text)
				}
			case *mcp.CreateMessageWithToolsResult:
				for _, c := range r.Content {
					if tc, ok := c.(*mcp.TextContent); ok {
						record("sample=" + tc.Text)
					}
				}
			}
			return text("thanks"), nil
		}
		return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{
			"who": &mcp.ElicitParams{Message: "Is ada@example.com your address?", RequestedSchema: nameSchema()},
			"gen": &mcp.CreateMessageParams{Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Write to bob@example.com"}}}, MaxTokens: 50},
		}}, nil
	})
	srv.AddTool(&mcp.Tool{Name: "structured", Description: "personal data in member names, _meta and escapes", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res := text("see the structured content")
		res.StructuredContent = json.RawMessage(`{"ada@example.com":{"_meta":{"owner":"bob@example.com"},"data":"` + escapedEmail + `"}}`)
		return res, nil
	})
	return srv
}

// pathsUpstream is one upstream of the table: its gateway and where its
// server records what it received.
type pathsUpstream struct {
	gw     string
	record string
}

type pathsEra struct {
	name        string
	version     string // client protocol version ("" for 2026-07-28)
	stateless   bool   // HTTP upstream kind: stateless server
	upstreamEra gateway.UpstreamEra
	legacy      bool
}

var pathsEras = []pathsEra{
	{name: "legacy", version: "2025-11-25", legacy: true},
	{name: "2026", stateless: true},
	// A legacy client bridged to a 2026-07-28 upstream (the gateway
	// answers initialize from server/discover).
	{name: "legacy-bridged", version: "2025-11-25", stateless: true, upstreamEra: gateway.EraModern, legacy: true},
	// A 2026-07-28 client bridged to a legacy upstream (the gateway holds
	// an upstream session; input requests become an InputRequiredResult).
	{name: "2026-bridged", upstreamEra: gateway.EraLegacy},
}

func newPathsUpstream(t *testing.T, kind string, era pathsEra) *pathsUpstream {
	t.Helper()
	p, err := pii.New(pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := policytest.Options{Middleware: []gateway.Middleware{p.Wrap}, UpstreamEra: era.upstreamEra}
	u := &pathsUpstream{record: filepath.Join(t.TempDir(), "received")}
	switch kind {
	case "http":
		srv := pathsServer(fileRecorder(u.record))
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: era.stateless, EventStore: mcp.NewMemoryEventStore(nil)})
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		u.gw = policytest.NewGateway(t, ts.URL, opts).URL
	case "stdio":
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		up := policytest.NewStdioUpstream(t, []string{exe}, []string{serverEnv + "=" + u.record})
		u.gw = policytest.NewGatewayFor(t, up, opts).URL
	}
	return u
}

// seenByClient is what the client's handlers were shown.
type seenByClient struct {
	mu                        sync.Mutex
	progress, elicit, samples []string
}

func (s *seenByClient) add(list *[]string, v string) {
	s.mu.Lock()
	*list = append(*list, v)
	s.mu.Unlock()
}

func (s *seenByClient) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("progress=%q elicit=%q samples=%q", s.progress, s.elicit, s.samples)
}

// connectAnswering opens a go-sdk client session that answers
// elicitation with an e-mail address and sampling with a card number.
func connectAnswering(t *testing.T, url, version string, seen *seenByClient) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "pii-paths-client", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			seen.add(&seen.elicit, req.Params.Message)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "carol@example.com"}}, nil
		},
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			for _, m := range req.Params.Messages {
				if tc, ok := m.Content.(*mcp.TextContent); ok {
					seen.add(&seen.samples, tc.Text)
				}
			}
			return &mcp.CreateMessageResult{Role: "assistant", Model: "test", Content: &mcp.TextContent{Text: "pay with 4111 1111 1111 1111"}}, nil
		},
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			seen.add(&seen.progress, req.Params.Message)
		},
	})
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true}, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestEveryPath runs personal data through every position of every
// message, both ways, for both upstream kinds and both protocol eras: what
// the client is shown and what reaches the upstream must be masked.
func TestEveryPath(t *testing.T) {
	for _, kind := range []string{"http", "stdio"} {
		for _, era := range pathsEras {
			t.Run(kind+"/"+era.name, func(t *testing.T) {
				testEveryPath(t, kind, era)
			})
		}
	}
}

func testEveryPath(t *testing.T, kind string, era pathsEra) {
	ctx := context.Background()
	up := newPathsUpstream(t, kind, era)
	seen := &seenByClient{}
	cs := connectAnswering(t, up.gw, era.version, seen)

	t.Run("arguments", func(t *testing.T) {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "I am dave@example.com"}}); err != nil {
			t.Fatal(err)
		}
		if got := recorded(t, up.record, "echo="); got != "I am d***@example.com" {
			t.Fatalf("the upstream received %q", got)
		}
	})

	t.Run("progress", func(t *testing.T) {
		params := &mcp.CallToolParams{Name: "progress", Arguments: map[string]any{}}
		params.SetProgressToken("tok-1")
		res, err := cs.CallTool(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := policytest.Text(res); got != "sent to a***@example.com" {
			t.Fatalf("result %q", got)
		}
		// The client runs its notification handler on its own time.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(seen.all(), `progress=["mailing`) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := seen.all(); !strings.Contains(got, `progress=["mailing a***@example.com"]`) {
			t.Fatalf("client saw %s", got)
		}
	})

	t.Run("structured", func(t *testing.T) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "structured", Arguments: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := json.Marshal(res.StructuredContent)
		want := `{"a***@example.com":{"_meta":{"owner":"b***@example.com"},"data":"c***@example.com"}}`
		if string(sc) != want {
			t.Fatalf("structuredContent %s\nwant %s", sc, want)
		}
	})

	// Bridged or not, the input requests reach the client masked, and its
	// answers reach the upstream masked: as server-to-client requests on
	// the call's stream (legacy client) or in an InputRequiredResult whose
	// inputResponses come back in the retry (2026-07-28 client).
	t.Run("server requests and answers", func(t *testing.T) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask", Arguments: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		if got := policytest.Text(res); got != "thanks" {
			t.Fatalf("result %q (client saw %s)", got, seen.all())
		}
		if got := seen.all(); !strings.Contains(got, `elicit=["Is a***@example.com your address?"]`) || !strings.Contains(got, `samples=["Write to b***@example.com"]`) {
			t.Errorf("client saw %s", got)
		}
		if got := recorded(t, up.record, "elicit="); got != "c***@example.com" {
			t.Errorf("the upstream received the elicitation answer %q", got)
		}
		if got := recorded(t, up.record, "sample="); got != "pay with **** **** **** 1111" {
			t.Errorf("the upstream received the sampling answer %q", got)
		}
	})

	if !era.legacy || era.upstreamEra == gateway.EraModern {
		// A legacy session on a 2026-07-28 upstream has no resumable
		// stream of the upstream's own to test here.
		return
	}
	t.Run("GET stream", func(t *testing.T) {
		c := newRawClient(t, up.gw)
		get := c.open("GET", "", "")
		note := c.open("POST", `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`, "")
		note.body.Close()
		ev, ok := get.until(func(e rawEvent) bool { return strings.Contains(e.data, `"elicitation/create"`) })
		if !ok {
			t.Fatal("no elicitation on the GET stream")
		}
		if strings.Contains(ev.data, "ada@") || !strings.Contains(ev.data, "a***@example.com") {
			t.Fatalf("elicitation on the GET stream: %s", ev.data)
		}
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal([]byte(ev.data), &req)
		resp := c.open("POST", `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":{"action":"accept","content":{"name":"erin@example.com"}}}`, "")
		resp.body.Close()
		if resp.status != http.StatusAccepted {
			t.Fatalf("answer: %d", resp.status)
		}
		if got := recorded(t, up.record, "later="); got != "e***@example.com" {
			t.Fatalf("the upstream received the answer %q", got)
		}
	})

	t.Run("resumed stream", func(t *testing.T) {
		c := newRawClient(t, up.gw)
		post := c.open("POST", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"progress","arguments":{},"_meta":{"progressToken":"tok-2"}}}`, "")
		ev, ok := post.until(func(e rawEvent) bool { return strings.Contains(e.data, "notifications/progress") })
		post.body.Close() // the client drops the stream after the progress event
		if !ok || ev.id == "" {
			t.Fatalf("no resumable progress event: %+v", ev)
		}
		if strings.Contains(ev.data, "ada@") {
			t.Errorf("progress: %s", ev.data)
		}
		get := c.open("GET", "", ev.id)
		res, ok := get.until(func(e rawEvent) bool { return strings.Contains(e.data, `"result"`) })
		if !ok {
			t.Fatal("the resumed stream has no result")
		}
		if strings.Contains(res.data, "ada@") || !strings.Contains(res.data, "a***@example.com") {
			t.Fatalf("resumed result: %s", res.data)
		}
	})
}

// rawClient is a legacy client by hand, for the GET stream.
type rawClient struct {
	t   *testing.T
	url string
	sid string
}

type rawEvent struct{ id, data string }

type rawResponse struct {
	status int
	body   io.ReadCloser
	events chan rawEvent
}

func newRawClient(t *testing.T, url string) *rawClient {
	c := &rawClient{t: t, url: url}
	r := c.open("POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"1"}}}`, "")
	r.body.Close()
	if r.status != http.StatusOK || c.sid == "" {
		t.Fatalf("initialize: %d", r.status)
	}
	r = c.open("POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "")
	r.body.Close()
	return c
}

// open sends a POST (body) or a GET (resuming after lastID if set). Its
// SSE events arrive on events until the deadline or the end of the body.
func (c *rawClient) open(method, body, lastID string) *rawResponse {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	c.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, method, c.url, strings.NewReader(body))
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	if lastID != "" {
		req.Header.Set("Last-Event-Id", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
		c.sid = sid
	}
	r := &rawResponse{status: resp.StatusCode, body: resp.Body, events: make(chan rawEvent, 16)}
	go func() {
		defer close(r.events)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			b, _ := io.ReadAll(resp.Body)
			r.events <- rawEvent{data: string(b)}
			return
		}
		var cur rawEvent
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.data != "" {
					r.events <- cur
				}
				cur = rawEvent{}
			case strings.HasPrefix(line, "id:"):
				cur.id = strings.TrimSpace(line[3:])
			case strings.HasPrefix(line, "data:"):
				cur.data += strings.TrimSpace(line[5:])
			}
		}
	}()
	return r
}

// until returns the first event for which match is true.
func (r *rawResponse) until(match func(rawEvent) bool) (rawEvent, bool) {
	for ev := range r.events {
		if match(ev) {
			return ev, true
		}
	}
	return rawEvent{}, false
}
