package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/sse"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// goSDKServer serves the go-sdk's HTTP+SSE handler with an echo tool and a
// tool that reports progress.
func goSDKServer(t *testing.T, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "legacy", Version: "1"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		for i := 1; i <= 3; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: 3}); err != nil {
				return nil, nil, err
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	var h http.Handler = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func newUpstream(t *testing.T, o sse.Options) *sse.Upstream {
	t.Helper()
	up, err := sse.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close(context.Background()) })
	return up
}

func post(t *testing.T, up *sse.Upstream, session, body string) upstream.Reply {
	t.Helper()
	r, err := up.Post(context.Background(), &upstream.Request{Body: []byte(body), Session: session, Key: "k1", Principal: "p"})
	if err != nil {
		t.Fatalf("POST %s: %v", body, err)
	}
	return r
}

// final reads a reply to its response, returning the notifications seen
// before it.
func final(t *testing.T, r upstream.Reply) (notes []*jsonrpc.Message, resp *jsonrpc.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer r.Close()
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("reply ended without a response: %v", err)
		}
		m, err := ev.Message()
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == jsonrpc.KindResponse {
			return notes, m
		}
		notes = append(notes, m)
	}
}

const initBody = `{"jsonrpc":"2.0","id":"init-1","method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func initialize(t *testing.T, up *sse.Upstream) string {
	t.Helper()
	r := post(t, up, "", initBody)
	sid := r.Info().Session
	_, resp := final(t, r)
	if resp.ID.Raw() != `"init-1"` || resp.Result == nil || sid == "" {
		t.Fatalf("initialize: id %s result %s session %q", resp.ID.Raw(), resp.Result, sid)
	}
	r = post(t, up, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if r.Info().Status != http.StatusAccepted {
		t.Fatalf("initialized: %d", r.Info().Status)
	}
	return sid
}

// TestGoSDKHandler drives the go-sdk's SSE handler: initialize, calls whose
// ids are restored, progress routed to its call, and two sessions whose
// equal ids never meet.
func TestGoSDKHandler(t *testing.T) {
	var auth atomic.Value
	ts := goSDKServer(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth.Store(r.Method + " " + r.Header.Get("Authorization"))
			if r.Header.Get("Authorization") != "Bearer upstream-secret" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	up := newUpstream(t, sse.Options{URL: ts.URL, Authorize: func(_ context.Context, r *http.Request, _ string) error {
		r.Header.Set("Authorization", "Bearer upstream-secret")
		return nil
	}})
	a, b := initialize(t, up), initialize(t, up)
	if a == b || up.Len() != 2 {
		t.Fatalf("sessions %q %q, %d streams", a, b, up.Len())
	}
	for _, sid := range []string{a, b} {
		_, resp := final(t, post(t, up, sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`+sid+`"}}}`))
		if resp.ID.Raw() != "7" || !strings.Contains(string(resp.Result), sid) {
			t.Fatalf("echo on %s: id %s result %s", sid, resp.ID.Raw(), resp.Result)
		}
	}
	notes, resp := final(t, post(t, up, a, `{"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"progress","arguments":{},"_meta":{"progressToken":"tok"}}}`))
	if resp.ID.Raw() != `"p"` || len(notes) != 3 || notes[0].Method != "notifications/progress" {
		t.Fatalf("progress call: %d notes, response %s", len(notes), resp.Raw)
	}
	if got := auth.Load().(string); got != "POST Bearer upstream-secret" {
		t.Fatalf("last upstream request: %q", got)
	}
	if err := up.Delete(context.Background(), &upstream.Request{Session: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Post(context.Background(), &upstream.Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), Session: a}); !errors.Is(err, upstream.ErrSessionGone) {
		t.Fatalf("after Delete: %v", err)
	}
	if _, err := up.Post(context.Background(), &upstream.Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), Session: "sse-forged"}); !errors.Is(err, upstream.ErrSessionGone) {
		t.Fatalf("unknown session: %v", err)
	}
}

// TestForeignEndpoint: an endpoint event naming another origin is refused
// before anything is POSTed there.
func TestForeignEndpoint(t *testing.T) {
	var posted atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posted.Add(1) }))
	defer other.Close()
	for _, ep := range []string{other.URL + "/message", "//" + strings.TrimPrefix(other.URL, "http://") + "/m", "https://" + strings.TrimPrefix(other.URL, "http://") + "/m"} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: endpoint\ndata: %s\n\n", ep)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		up := newUpstream(t, sse.Options{URL: ts.URL + "/sse"})
		_, err := up.Post(context.Background(), &upstream.Request{Body: []byte(initBody)})
		if !errors.Is(err, sse.ErrForeignEndpoint) {
			t.Fatalf("endpoint %s: %v", ep, err)
		}
		if up.Len() != 0 {
			t.Fatalf("endpoint %s: %d streams left open", ep, up.Len())
		}
		ts.Close()
	}
	if posted.Load() != 0 {
		t.Fatal("a message went to the foreign origin")
	}
}

// scripted is an HTTP+SSE server whose stream the test controls.
type scripted struct {
	events chan string
	posts  chan string
	status atomic.Int32
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(int(s.status.Load()))
		s.posts <- string(b)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, ": hello\n\nevent: endpoint\ndata: /message?sessionId=abc\n\n")
	w.(http.Flusher).Flush()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return // the stream ends
			}
			fmt.Fprint(w, ev)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// TestStreamEndsMidCall: a stream that ends fails the pending call with a
// JSON-RPC error carrying the caller's id, and the session is gone.
func TestStreamEndsMidCall(t *testing.T) {
	s := &scripted{events: make(chan string, 4), posts: make(chan string, 4)}
	s.status.Store(http.StatusAccepted)
	ts := httptest.NewServer(s)
	defer ts.Close()
	up := newUpstream(t, sse.Options{URL: ts.URL + "/sse"})
	r := post(t, up, "", initBody)
	sid := r.Info().Session
	if got := <-s.posts; !strings.Contains(got, `"id":1`) {
		t.Fatalf("initialize went up as %s", got)
	}
	s.events <- "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2024-11-05\",\"capabilities\":{},\"serverInfo\":{\"name\":\"s\",\"version\":\"1\"}}}\n\n"
	final(t, r)
	r = post(t, up, sid, `{"jsonrpc":"2.0","id":"call-9","method":"tools/call","params":{"name":"x"}}`)
	<-s.posts
	close(s.events)
	_, resp := final(t, r)
	e, err := jsonrpc.DecodeError(resp.Error)
	if resp.ID.Raw() != `"call-9"` || err != nil || e.Code != jsonrpc.CodeUpstreamUnavailable {
		t.Fatalf("after the stream ended: %s", resp.Raw)
	}
	if _, err := up.Post(context.Background(), &upstream.Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), Session: sid}); !errors.Is(err, upstream.ErrSessionGone) {
		t.Fatalf("session after the stream ended: %v", err)
	}
}

// TestBounds: the stream limit, an oversized event, a refused POST, idle
// reaping and the standalone stream.
func TestBounds(t *testing.T) {
	s := &scripted{events: make(chan string, 4), posts: make(chan string, 16)}
	s.status.Store(http.StatusAccepted)
	ts := httptest.NewServer(s)
	defer ts.Close()
	up := newUpstream(t, sse.Options{URL: ts.URL + "/sse", MaxConnections: 1, MaxMessage: 256, IdleTimeout: 200 * time.Millisecond})
	r := post(t, up, "", initBody)
	sid := r.Info().Session
	r.Close()
	<-s.posts
	_, err := up.Post(context.Background(), &upstream.Request{Body: []byte(initBody)})
	var re *jsonrpc.Error
	if !errors.As(err, &re) || re.Code != jsonrpc.CodeOverloaded {
		t.Fatalf("second stream with MaxConnections 1: %v", err)
	}
	// A server notification reaches the standalone stream.
	g, err := up.Get(context.Background(), &upstream.Request{Session: sid})
	if err != nil {
		t.Fatal(err)
	}
	s.events <- "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n"
	ev, err := g.Next(context.Background())
	if err != nil || !strings.Contains(string(ev.Data), "list_changed") {
		t.Fatalf("standalone: %v %v", ev, err)
	}
	// An event beyond MaxMessage ends the stream; the standalone stream
	// ends with it.
	s.events <- "data: {\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"pad\":\"" + strings.Repeat("a", 512) + "\"}}\n\n"
	if _, err := g.Next(context.Background()); err != io.EOF {
		t.Fatalf("standalone after an oversized event: %v", err)
	}
	g.Close()
	if up.Len() != 0 {
		t.Fatal("the stream outlived an oversized event")
	}

	// An idle stream is closed.
	r = post(t, up, "", initBody)
	sid = r.Info().Session
	r.Close()
	deadline := time.Now().Add(10 * time.Second)
	for up.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle stream never reaped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := up.Get(context.Background(), &upstream.Request{Session: sid}); !errors.Is(err, upstream.ErrSessionGone) {
		t.Fatalf("reaped session: %v", err)
	}

	// A POST the server refuses fails the request.
	s.status.Store(http.StatusForbidden)
	if _, err := up.Post(context.Background(), &upstream.Request{Body: []byte(initBody)}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("refused POST: %v", err)
	}
}
