package legacysse_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway/legacysse"
)

// door fronts the go-sdk's Streamable HTTP handler (a real MCP server)
// with the HTTP+SSE door; the caller is named by the X-User header.
func door(t *testing.T, max int64) (*legacysse.Door, *httptest.Server) {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "modern", Version: "1"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		for i := 1; i <= 2; i++ {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i)})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	d, err := legacysse.New(legacysse.Options{Handler: h, Path: "/mcp", MaxMessage: max,
		Principal: func(ctx context.Context) string { return ctx.Value(userKey{}).(string) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, r.Header.Get("X-User"))))
	}))
	t.Cleanup(ts.Close)
	return d, ts
}

type userKey struct{}

type asUser struct{ user string }

func (a asUser) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-User", a.user)
	return http.DefaultTransport.RoundTrip(r)
}

// TestGoSDKClient drives the door with the go-sdk's HTTP+SSE client.
func TestGoSDKClient(t *testing.T) {
	d, ts := door(t, 0)
	progress := make(chan float64, 8)
	c := mcp.NewClient(&mcp.Implementation{Name: "old", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { progress <- r.Params.Progress },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: ts.URL + "/mcp/sse", HTTPClient: &http.Client{Transport: asUser{"alice"}}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	p := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "over sse"}}
	p.SetProgressToken("t")
	res, err := cs.CallTool(ctx, p)
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "over sse" {
		t.Fatalf("echo: %v %v", res, err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-progress:
		case <-ctx.Done():
			t.Fatalf("%d of 2 progress notifications", i)
		}
	}
	if d.Len() != 1 {
		t.Fatalf("%d sessions", d.Len())
	}
	cs.Close()
}

// openStream opens a stream as user and returns the POST URL it announces.
func openStream(t *testing.T, ts *httptest.Server, user string) (string, func()) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/mcp/sse", nil)
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /sse: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	var ev, data string
	for data == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
	if ev != "endpoint" || !strings.HasPrefix(data, "/mcp/message?sessionId=") || len(data) < len("/mcp/message?sessionId=")+43 {
		t.Fatalf("first event %q %q", ev, data)
	}
	return ts.URL + data, func() { resp.Body.Close() }
}

func postAs(t *testing.T, url, user, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-User", user)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAttacks: a forged or foreign session id is 404, a message beyond
// the limit 413, and a closed stream's session is gone.
func TestAttacks(t *testing.T) {
	d, ts := door(t, 1024)
	url, closeStream := openStream(t, ts, "alice")
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	if got := postAs(t, url, "mallory", ping); got != http.StatusNotFound {
		t.Fatalf("another principal's session: %d", got)
	}
	forged := ts.URL + "/mcp/message?sessionId=" + strings.Repeat("A", 43)
	if got := postAs(t, forged, "alice", ping); got != http.StatusNotFound {
		t.Fatalf("unknown session: %d", got)
	}
	if got := postAs(t, ts.URL+"/mcp/message", "alice", ping); got != http.StatusNotFound {
		t.Fatalf("no session: %d", got)
	}
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2048) + `"}}`
	if got := postAs(t, url, "alice", big); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized message: %d", got)
	}
	if got := postAs(t, url, "alice", ping); got != http.StatusAccepted {
		t.Fatalf("own session: %d", got)
	}
	closeStream()
	deadline := time.Now().Add(10 * time.Second)
	for d.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("session outlived its stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := postAs(t, url, "alice", ping); got != http.StatusNotFound {
		t.Fatalf("closed session: %d", got)
	}
}

// TestDrain: draining ends open streams and refuses new ones.
func TestDrain(t *testing.T) {
	d, ts := door(t, 0)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/mcp/sse", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	d.Drain()
	if _, err := io.ReadAll(br); err != nil {
		t.Fatalf("stream after Drain: %v", err)
	}
	r2, err := http.Get(ts.URL + "/mcp/sse")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("new stream while draining: %d", r2.StatusCode)
	}
}
