//lint:file-ignore SA1019 a legacy client's notifications/roots/list_changed is how the stream tests make a server speak outside any request.

package policytest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
)

// Resources of the stream server: one every caller may read, one the
// tests hide, and one whose URI names a person (an e-mail address a PII
// policy masks).
const (
	PublicURI  = "test://public/readme"
	PrivateURI = "test://private/keys"
	PersonURI  = "test://public/bob@example.com"
)

// streamServerEnv, when set in the environment of a test binary whose
// TestMain calls ServeStreamServerIfAsked, makes it the stream server over
// stdio.
const streamServerEnv = "MCPFORT_POLICYTEST_STREAM_SERVER"

// ServeStreamServerIfAsked runs the stream server over stdio and exits
// when the test binary was started as a stdio upstream (see
// NewStreamGateway); otherwise it returns. Call it first in TestMain.
func ServeStreamServerIfAsked() {
	if os.Getenv(streamServerEnv) == "" {
		return
	}
	if err := StreamServer().Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StreamServer is an MCP server that sends what the stream tests watch for
// when poked (a notifications/roots/list_changed from a legacy client, or
// a call of its tool "poke"): notifications/resources/updated about
// PrivateURI, PersonURI and PublicURI (to the sessions subscribed to them),
// then a new definition of tool "echo", which the SDK announces with
// notifications/tools/list_changed. A client reading until that
// notification has been sent everything before it.
func StreamServer() *mcp.Server {
	var srv *mcp.Server
	fire := func() {
		ctx := context.Background()
		_ = srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: PrivateURI})
		_ = srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: PersonURI})
		_ = srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: PublicURI})
		addEcho(srv, "echoes its text, now differently")
	}
	srv = mcp.NewServer(&mcp.Implementation{Name: "streams", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:        func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler:      func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		RootsListChangedHandler: func(context.Context, *mcp.RootsListChangedRequest) { fire() },
	})
	// A tools/list with a progress token gets a progress notification
	// before its answer: an event id a legacy client can resume the
	// answer from.
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if p, ok := req.GetParams().(*mcp.ListToolsParams); ok && method == "tools/list" && p.GetProgressToken() != nil {
				if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
					_ = ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: p.GetProgressToken(), Progress: 1, Message: "listing"})
				}
			}
			return next(ctx, method, req)
		}
	})
	addEcho(srv, "echoes its text")
	srv.AddTool(&mcp.Tool{Name: "poke", Description: "sends the notifications", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			fire()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "poked"}}}, nil
		})
	for _, uri := range []string{PublicURI, PrivateURI} {
		srv.AddResource(&mcp.Resource{URI: uri, Name: uri, MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "contents of " + req.Params.URI}}}, nil
		})
	}
	return srv
}

func addEcho(srv *mcp.Server, desc string) {
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: desc}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
}

// StreamKind is an upstream kind of the stream tests.
type StreamKind string

// Upstream kinds: the stream server over Streamable HTTP (session-based
// for legacy clients, stateless for 2026-07-28 clients), or over stdio.
const (
	HTTP  StreamKind = "http"
	Stdio StreamKind = "stdio"
)

// NewStreamGateway starts the stream server as an upstream of the case's
// kind and a gateway in front of it, and returns the gateway's URL. The
// upstream speaks the clients' era (an HTTP upstream keeps sessions for
// legacy clients), or the other one when the case is bridged. A stdio
// upstream is the test binary itself: its TestMain must call
// ServeStreamServerIfAsked.
func NewStreamGateway(t testing.TB, sc StreamCase, opts Options) string {
	t.Helper()
	legacyUpstream := sc.Legacy != sc.Bridged
	if sc.Bridged {
		opts.UpstreamEra = gateway.EraModern
		if legacyUpstream {
			opts.UpstreamEra = gateway.EraLegacy
		}
	}
	switch sc.Kind {
	case HTTP:
		srv := StreamServer()
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: !legacyUpstream, EventStore: mcp.NewMemoryEventStore(nil)})
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		return NewGateway(t, ts.URL, opts).URL
	case Stdio:
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		up := NewStdioUpstream(t, []string{exe}, []string{streamServerEnv + "=1"})
		return NewGatewayFor(t, up, opts).URL
	}
	t.Fatalf("unknown upstream kind %q", sc.Kind)
	return ""
}

// RawClient speaks to a gateway by hand, so that a test sees exactly the
// messages the gateway sends: a legacy client in a session (after
// Initialize) or a 2026-07-28 client (Modern).
type RawClient struct {
	t      testing.TB
	url    string
	sid    string
	modern bool
	// Header names the caller (Identity); a test may change it between
	// requests, as a client does when it refreshes its token.
	Header http.Header
}

// NewLegacyClient opens a 2025-11-25 session on the gateway at url as the
// caller h.
func NewLegacyClient(t testing.TB, url string, h http.Header) *RawClient {
	t.Helper()
	c := &RawClient{t: t, url: url, Header: h}
	r := c.Send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"raw","version":"1"}}}`)
	if _, ok := r.Response(); !ok || c.sid == "" {
		t.Fatalf("initialize: status %d, no session", r.Status)
	}
	r = c.Send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.Close()
	return c
}

// NewModernClient returns a 2026-07-28 client of the gateway at url as
// the caller h.
func NewModernClient(t testing.TB, url string, h http.Header) *RawClient {
	return &RawClient{t: t, url: url, Header: h, modern: true}
}

// Call sends a request (a 2026-07-28 client adds the _meta and headers its
// era requires) and returns its answer.
func (c *RawClient) Call(id, method, params string) *RawResponse {
	c.t.Helper()
	if c.modern {
		var p map[string]any
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			c.t.Fatal(err)
		}
		meta, _ := p["_meta"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
		}
		meta["io.modelcontextprotocol/protocolVersion"] = "2026-07-28"
		if meta["io.modelcontextprotocol/clientCapabilities"] == nil {
			meta["io.modelcontextprotocol/clientCapabilities"] = map[string]any{}
		}
		meta["io.modelcontextprotocol/clientInfo"] = map[string]any{"name": "raw", "version": "1"}
		p["_meta"] = meta
		b, _ := json.Marshal(p)
		params = string(b)
	}
	body := `{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `","params":` + params + `}`
	h := http.Header{}
	if c.modern {
		h.Set("Mcp-Method", method)
		var p struct{ Name, URI string }
		_ = json.Unmarshal([]byte(params), &p)
		switch method {
		case "tools/call", "prompts/get":
			h.Set("Mcp-Name", p.Name)
		case "resources/read":
			h.Set("Mcp-Name", p.URI)
		}
	}
	return c.open(http.MethodPost, body, h)
}

// Send POSTs one message as it is.
func (c *RawClient) Send(body string) *RawResponse {
	c.t.Helper()
	return c.open(http.MethodPost, body, nil)
}

// Get opens the session's GET stream.
func (c *RawClient) Get() *RawResponse {
	c.t.Helper()
	return c.open(http.MethodGet, "", nil)
}

// Resume resumes a stream of the session after the event lastID.
func (c *RawClient) Resume(lastID string) *RawResponse {
	c.t.Helper()
	return c.open(http.MethodGet, "", http.Header{"Last-Event-Id": {lastID}})
}

func (c *RawClient) open(method, body string, extra http.Header) *RawResponse {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	c.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	switch {
	case c.modern:
		req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	case c.sid != "":
		req.Header.Set("Mcp-Session-Id", c.sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && !c.modern {
		c.sid = sid
	}
	r := &RawResponse{Status: resp.StatusCode, Header: resp.Header, body: resp.Body, events: make(chan rawEvent, 64)}
	go func() {
		defer close(r.events)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			b, _ := io.ReadAll(resp.Body)
			if len(b) > 0 {
				r.events <- rawEvent{data: string(b)}
			}
			return
		}
		var ev rawEvent
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					r.events <- ev
				}
				ev = rawEvent{}
			case strings.HasPrefix(line, "id:"):
				ev.id = strings.TrimSpace(line[3:])
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimSpace(line[5:])
			}
		}
	}()
	return r
}

// RawResponse is the answer to one HTTP request: a JSON body or an SSE
// stream, as the messages it carries.
type RawResponse struct {
	Status int
	Header http.Header
	body   io.ReadCloser
	events chan rawEvent
	// Seen are the messages read so far.
	Seen []string
	// LastID is the id of the last event read that had one.
	LastID string
}

type rawEvent struct{ id, data string }

func (r *RawResponse) saw(ev rawEvent) {
	r.Seen = append(r.Seen, ev.data)
	if ev.id != "" {
		r.LastID = ev.id
	}
}

// Close ends the request.
func (r *RawResponse) Close() { r.body.Close() }

// Until reads messages until one contains want, and reports whether one
// did before the answer ended (or its deadline passed).
func (r *RawResponse) Until(want string) bool {
	for ev := range r.events {
		r.saw(ev)
		if strings.Contains(ev.data, want) {
			return true
		}
	}
	return false
}

// Next reads one message.
func (r *RawResponse) Next() (string, bool) {
	ev, ok := <-r.events
	if ok {
		r.saw(ev)
	}
	return ev.data, ok
}

// within reads messages until one contains want, for at most d.
func (r *RawResponse) within(want string, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-r.events:
			if !ok {
				return false
			}
			r.saw(ev)
			if strings.Contains(ev.data, want) {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}

// pokeUntil pokes the stream server until stream carries a message
// containing want, and then the tool list change that ends a poke's
// notifications, so that everything the poke sent before has been read. A
// stream the gateway opens upstream on the client's behalf (a bridged
// one) may not be listening yet when the first poke comes: the server
// then has no one to tell, and the next poke is tried.
func (c *RawClient) pokeUntil(sc StreamCase, stream *RawResponse, want string) bool {
	c.t.Helper()
	for try := 0; try < 10; try++ {
		c.poke(sc)
		if !stream.within(toolsChanged, time.Second) {
			continue
		}
		if stream.Saw(want) {
			return true
		}
	}
	return false
}

// Response reads until the JSON-RPC response and returns it.
func (r *RawResponse) Response() (string, bool) {
	if !r.Until(`"id"`) {
		return "", false
	}
	return r.Seen[len(r.Seen)-1], true
}

// Saw reports whether a message read so far contains s.
func (r *RawResponse) Saw(s string) bool {
	for _, m := range r.Seen {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// StreamCase is one cell of the stream matrix: an upstream kind, a client
// era (legacy: the session's GET stream; 2026-07-28: a
// subscriptions/listen stream) and whether the upstream speaks the other
// era (the gateway bridges: a legacy client's GET stream is a
// subscriptions/listen upstream; a 2026-07-28 client's listen stream is
// fed by the GET stream of the upstream session).
type StreamCase struct {
	Kind    StreamKind
	Legacy  bool
	Bridged bool
}

func (s StreamCase) String() string {
	name := string(s.Kind) + "/2026-listen"
	if s.Legacy {
		name = string(s.Kind) + "/legacy-GET"
	}
	if s.Bridged {
		name += "-bridged"
	}
	return name
}

// StreamCases are the cells every access policy is tested in.
var StreamCases = []StreamCase{
	{HTTP, true, false}, {HTTP, false, false}, {Stdio, true, false}, {Stdio, false, false},
	{HTTP, true, true}, {HTTP, false, true}, {Stdio, true, true}, {Stdio, false, true},
}

// poke makes the stream server send its notifications: a legacy client
// in a session with the upstream says its roots changed (a notification,
// so that no call is in flight and a stdio upstream's messages go to the
// session's GET stream); otherwise it calls tool poke.
func (c *RawClient) poke(sc StreamCase) {
	c.t.Helper()
	if sc.Legacy && !sc.Bridged {
		c.Send(`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`).Close()
		return
	}
	if res, ok := c.Call(`"poke"`, "tools/call", `{"name":"poke","arguments":{}}`).Response(); !ok || !strings.Contains(res, "poked") {
		c.t.Fatalf("poke: %s", res)
	}
}

const (
	toolsChanged = "notifications/tools/list_changed"
	listenBoth   = `{"notifications":{"toolsListChanged":true,"resourceSubscriptions":["` + PublicURI + `","` + PrivateURI + `"]}}`
	// listenCase subscribes to PrivateURI under a member name that
	// encoding/json (a Go upstream, the gateway's bridge) reads as
	// resourceSubscriptions, after the real one.
	listenCase   = `{"notifications":{"toolsListChanged":true,"resourceSubscriptions":["` + PublicURI + `"],"ResourceSubscriptions":["` + PublicURI + `","` + PrivateURI + `"]}}`
	listenPublic = `{"notifications":{"toolsListChanged":true,"resourceSubscriptions":["` + PublicURI + `"]}}`
)

// TestHiddenResourceUpdates checks, through a gateway running the policies
// of opts, that a caller to whom the policies hide PrivateURI is never
// sent notifications/resources/updated about it on its stream, while the
// one about PublicURI and the tool list change reach it.
//
// A legacy client subscribes to both resources as allowed (a token that
// may read PrivateURI), then, as lesser (the same user and client, with a
// token that may not: a refresh with fewer scopes, a group membership
// ended), opens its session's GET stream. A 2026-07-28 client, as lesser,
// opens one subscriptions/listen stream asking for both resources (which
// the policies may refuse outright) and one asking for PublicURI only.
func TestHiddenResourceUpdates(t *testing.T, sc StreamCase, opts Options, allowed, lesser http.Header) {
	t.Helper()
	gw := NewStreamGateway(t, sc, opts)
	if sc.Legacy {
		c := NewLegacyClient(t, gw, allowed)
		for i, uri := range []string{PublicURI, PrivateURI} {
			res, ok := c.Call(fmt.Sprint(10+i), "resources/subscribe", `{"uri":"`+uri+`"}`).Response()
			if !ok || strings.Contains(res, `"error"`) {
				t.Fatalf("subscribe %s as the allowed caller: %s", uri, res)
			}
		}
		c.Header = lesser
		get := c.Get()
		if get.Status != http.StatusOK {
			t.Fatalf("GET: %d", get.Status)
		}
		if !c.pokeUntil(sc, get, PublicURI) {
			t.Fatalf("the GET stream carried no update of %s: %q", PublicURI, get.Seen)
		}
		if get.Saw(PrivateURI) {
			t.Fatalf("the GET stream of a caller who may not read %s carried %q", PrivateURI, get.Seen)
		}
		return
	}
	c := NewModernClient(t, gw, lesser)
	for i, params := range []string{listenBoth, listenCase} {
		stream := c.Call(fmt.Sprintf(`"l%d"`, i), "subscriptions/listen", params)
		first, ok := stream.Next()
		if !ok {
			t.Fatalf("listen %s: status %d, nothing", params, stream.Status)
		}
		if strings.Contains(first, `"error"`) {
			// Refused, as a resources/subscribe of the hidden resource
			// would be: the stream that proves updates still flow asks
			// for PublicURI only.
			if !strings.Contains(first, `"code":-31005`) && !strings.Contains(first, `"code":-32602`) {
				t.Fatalf("listen %s refused with %d %s", params, stream.Status, first)
			}
			stream = c.Call(fmt.Sprintf(`"p%d"`, i), "subscriptions/listen", listenPublic)
			if _, ok := stream.Next(); !ok {
				t.Fatalf("listen for %s: status %d, nothing", PublicURI, stream.Status)
			}
		}
		if !stream.Saw("notifications/subscriptions/acknowledged") {
			t.Fatalf("listen: %d %q", stream.Status, stream.Seen)
		}
		if !c.pokeUntil(sc, stream, `"uri":"`+PublicURI) {
			t.Fatalf("the listen stream carried no update of %s: %q", PublicURI, stream.Seen)
		}
		if stream.Saw(`"uri":"` + PrivateURI) {
			t.Fatalf("the listen stream (%s) of a caller who may not read %s carried %q", params, PrivateURI, stream.Seen)
		}
		// The stream stays open: on a stdio upstream all of a principal's
		// listens share one server session, where ending one would drop
		// the subscriptions of the next.
	}
}

// TestMaskedStreamNotification checks, through a gateway running a PII
// policy that masks e-mail addresses in results, that the
// notifications/resources/updated about PersonURI reaches the caller h on
// its stream (a legacy session's GET stream after resources/subscribe, a
// 2026-07-28 subscriptions/listen) with the address masked, and never as
// the server sent it.
func TestMaskedStreamNotification(t *testing.T, sc StreamCase, opts Options, h http.Header) {
	t.Helper()
	gw := NewStreamGateway(t, sc, opts)
	const masked, plain = "b***@example.com", "bob@example.com"
	var c *RawClient
	var stream *RawResponse
	if sc.Legacy {
		c = NewLegacyClient(t, gw, h)
		if res, ok := c.Call("1", "resources/subscribe", `{"uri":"`+PersonURI+`"}`).Response(); !ok || strings.Contains(res, `"error"`) {
			t.Fatalf("subscribe: %s", res)
		}
		stream = c.Get()
	} else {
		c = NewModernClient(t, gw, h)
		stream = c.Call(`"l"`, "subscriptions/listen", `{"notifications":{"toolsListChanged":true,"resourceSubscriptions":["`+PersonURI+`"]}}`)
		if !stream.Until("notifications/subscriptions/acknowledged") {
			t.Fatalf("listen: %d %q", stream.Status, stream.Seen)
		}
	}
	if !c.pokeUntil(sc, stream, masked) {
		t.Fatalf("the stream carried no masked update of %s: %q", PersonURI, stream.Seen)
	}
	if stream.Saw(plain) {
		t.Fatalf("the stream carried the address in clear: %q", stream.Seen)
	}
}

// TestToolChangeOnStream checks, through a gateway running a pinning
// policy that trusts the first tool list it sees, that a tool whose
// definition changes while the client holds a stream is refused at its
// next call and hidden from the next tools/list: the policy learns from
// the notifications/tools/list_changed on the stream (which still reaches
// the client) that what it observed is stale.
func TestToolChangeOnStream(t *testing.T, sc StreamCase, opts Options, h http.Header) {
	t.Helper()
	gw := NewStreamGateway(t, sc, opts)
	var c *RawClient
	if sc.Legacy {
		c = NewLegacyClient(t, gw, h)
	} else {
		c = NewModernClient(t, gw, h)
	}
	if res, ok := c.Call("1", "tools/list", `{}`).Response(); !ok || !strings.Contains(res, `"name":"echo"`) {
		t.Fatalf("tools/list before the change: %s", res)
	}
	if res, ok := c.Call("2", "tools/call", `{"name":"echo","arguments":{"text":"before"}}`).Response(); !ok || !strings.Contains(res, "before") || strings.Contains(res, `"error"`) {
		t.Fatalf("echo before the change: %s", res)
	}
	var stream *RawResponse
	if sc.Legacy {
		stream = c.Get()
	} else {
		stream = c.Call(`"l"`, "subscriptions/listen", `{"notifications":{"toolsListChanged":true}}`)
		if !stream.Until("notifications/subscriptions/acknowledged") {
			t.Fatalf("listen: %d %q", stream.Status, stream.Seen)
		}
	}
	if !c.pokeUntil(sc, stream, toolsChanged) {
		t.Fatalf("the stream carried no tool list change: %q", stream.Seen)
	}
	if res, ok := c.Call("3", "tools/call", `{"name":"echo","arguments":{"text":"after"}}`).Response(); !ok || strings.Contains(res, "after") || !strings.Contains(res, "quarantined") {
		t.Fatalf("echo after its definition changed: %s", res)
	}
	if res, ok := c.Call("4", "tools/list", `{}`).Response(); !ok || strings.Contains(res, `"name":"echo"`) || !strings.Contains(res, `"name":"poke"`) {
		t.Fatalf("tools/list after the change: %s", res)
	}
}

// TestResumedList checks, through a gateway running the policies of opts,
// that a tools/list answer a legacy client resumes on a GET stream (after
// dropping the POST's stream at its first event, 2025-11-25 transports
// "Resumability and Redelivery") is filtered as the POST's answer would
// have been: it must not name tool hidden, and must name every tool of
// shown.
func TestResumedList(t *testing.T, kind StreamKind, opts Options, h http.Header, hidden string, shown ...string) {
	t.Helper()
	gw := NewStreamGateway(t, StreamCase{Kind: kind, Legacy: true}, opts)
	c := NewLegacyClient(t, gw, h)
	post := c.Send(`{"jsonrpc":"2.0","id":"list","method":"tools/list","params":{"_meta":{"progressToken":"tok"}}}`)
	if !post.Until("notifications/progress") || post.LastID == "" {
		t.Fatalf("no resumable event before the answer: %d %q", post.Status, post.Seen)
	}
	post.Close()
	// Until the upstream has seen the POST's stream end, it refuses to
	// resume it (an HTTP upstream answers 409, which the gateway reports
	// as 502): poll.
	var get *RawResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		get = c.Resume(post.LastID)
		if get.Status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		get.Close()
	}
	if get.Status != http.StatusOK {
		t.Fatalf("resume: %d", get.Status)
	}
	res, ok := get.Response()
	if !ok {
		t.Fatalf("the resumed stream has no answer: %q", get.Seen)
	}
	if strings.Contains(res, `"name":"`+hidden+`"`) {
		t.Fatalf("the resumed answer names %s: %s", hidden, res)
	}
	for _, name := range shown {
		if !strings.Contains(res, `"name":"`+name+`"`) {
			t.Fatalf("the resumed answer lacks %s: %s", name, res)
		}
	}
}
