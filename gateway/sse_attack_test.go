package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
	"github.com/mcpfort/mcpfort/internal/everything"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/transport"
)

// clientEvent is an event as a browser's EventSource dispatches it.
type clientEvent struct {
	Data        string
	LastEventID string
}

// clientParse reads a complete event stream as a spec-compliant client
// does (WHATWG HTML "Server-sent events", 9.2.5 and 9.2.6): lines end at
// CRLF, LF or CR; one leading BOM is skipped; a field's value loses one
// leading space; "data" lines join with LF; an id holding NUL is ignored
// and the last event ID persists across events; a blank line dispatches an
// event if there is data; an unterminated event is dropped. It returns the
// "message" events. It shares no code with transport.SSEReader, so that
// what the gateway writes is judged by another reading than its own.
func clientParse(stream []byte) []clientEvent {
	stream = bytes.TrimPrefix(stream, []byte("\xEF\xBB\xBF"))
	var (
		out               []clientEvent
		data, typ         string
		hasData           bool
		lastIDBuf, lastID string
	)
	for {
		i := bytes.IndexAny(stream, "\r\n")
		if i < 0 {
			return out // what is left is not a complete line
		}
		line := string(stream[:i])
		if stream[i] == '\r' && i+1 < len(stream) && stream[i+1] == '\n' {
			i++
		}
		stream = stream[i+1:]
		if line == "" {
			lastID = lastIDBuf
			if hasData && (typ == "" || typ == "message") {
				out = append(out, clientEvent{Data: strings.TrimSuffix(data, "\n"), LastEventID: lastID})
			}
			data, typ, hasData = "", "", false
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "data":
			data += value + "\n"
			hasData = true
		case "event":
			typ = value
		case "id":
			if !strings.Contains(value, "\x00") {
				lastIDBuf = value
			}
		}
	}
}

// recorder is the outermost policy: it records every event the policies
// let through, which is what the client must receive, no more.
type recorder struct {
	mu     sync.Mutex
	events []upstream.Event
}

func (r *recorder) wrap(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		reply, err := next(ctx, c)
		if err != nil {
			return nil, err
		}
		return &recordedReply{Reply: reply, r: r}, nil
	}
}

func (r *recorder) seen() []upstream.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]upstream.Event(nil), r.events...)
}

type recordedReply struct {
	upstream.Reply
	r *recorder
}

func (rr *recordedReply) Next(ctx context.Context) (*upstream.Event, error) {
	ev, err := rr.Reply.Next(ctx)
	if err == nil {
		rr.r.mu.Lock()
		rr.r.events = append(rr.r.events, upstream.Event{ID: ev.ID, Data: bytes.Clone(ev.Data), Retry: ev.Retry})
		rr.r.mu.Unlock()
	}
	return ev, err
}

// expectedEvents is what a client must see for the events the policies
// passed: each one the relay writes (data that is a JSON-RPC message, or
// an id alone), with the last event ID a client keeps, ids the gateway
// refuses left out.
func expectedEvents(seen []upstream.Event) []clientEvent {
	var want []clientEvent
	last := ""
	for _, ev := range seen {
		if len(ev.Data) > 0 {
			if _, err := jsonrpc.Decode(ev.Data, jsonrpc.Limits{}); err != nil {
				continue
			}
		}
		if ev.ID != "" && transport.ValidEventID(ev.ID) {
			last = ev.ID
		} else if len(ev.Data) == 0 {
			continue
		}
		want = append(want, clientEvent{Data: string(ev.Data), LastEventID: last})
	}
	return want
}

// trimGatewayError drops the error response the gateway writes itself for
// a call the upstream's stream never answered (or a policy failed on),
// after checking that it is one.
func trimGatewayError(t testing.TB, got []clientEvent, seen []upstream.Event) []clientEvent {
	t.Helper()
	if len(got) == 0 {
		return got
	}
	for _, ev := range seen {
		if m, err := jsonrpc.Decode(ev.Data, jsonrpc.Limits{}); err == nil && m.Kind == jsonrpc.KindResponse && m.ID.String() == "7" {
			return got // answered: the gateway adds nothing
		}
	}
	last := got[len(got)-1]
	m, err := jsonrpc.Decode([]byte(last.Data), jsonrpc.Limits{})
	if err != nil || m.Kind != jsonrpc.KindResponse || m.ID.String() != "7" || m.Error == nil {
		t.Fatalf("unanswered call: last event %q is not the gateway's error response", last.Data)
	}
	return got[:len(got)-1]
}

const toolsListResult = `{"jsonrpc":"2.0","id":7,"result":{"tools":[` +
	`{"name":"echo","inputSchema":{"type":"object"}},` +
	`{"name":"admin_delete","description":"deletes everything","inputSchema":{"type":"object"}}]}}`

// sseUpstream is a hand-written MCP server on loopback that answers
// initialize with JSON and every tools/list with the given event stream,
// byte for byte.
func sseUpstream(t *testing.T, stream string) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(body, &m)
		switch {
		case m.Method == "initialize":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Mcp-Session-Id", "upstream-session")
			io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"up","version":"1"}}}`)
		case m.ID == nil:
			w.WriteHeader(http.StatusAccepted)
		case m.Method == "tools/list":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, stream)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"error":{"code":-32601,"message":"no"}}`)
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// TestForgedSSEEvents performs the attack of an upstream that hides an
// event behind a bare CR: its forged tools/list result lists a tool the
// route denies. Through a running gateway with a tool filter, the client's
// parser must see exactly the events the policies saw, and never the
// denied tool.
func TestForgedSSEEvents(t *testing.T) {
	forged := toolsListResult
	attacks := map[string]string{
		"CR after id":              "id: 1\rdata: " + forged + "\n\n",
		"CR after id, CRLF ending": "id: 1\rdata: " + forged + "\r\n\r\n",
		"CR CR after id":           "id: 1\r\rdata: " + forged + "\n\n",
		"CR after id, CR ending":   "id: 1\rdata: " + forged + "\r\r",
		"CR between data lines":    "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\rdata: " + forged + "\n\n",
		"CR CR between data lines": "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\r\rdata: " + forged + "\n\n",
		"mixed endings":            "id: a\r\nid: b\rdata: " + forged + "\r\n\n",
		"CR in event name":         "event: x\rdata: " + forged + "\n\n",
		"CR in retry":              "retry: 10\rdata: " + forged + "\n\n",
		"forged id line":           "id: 1\rid: 2\rdata: " + forged + "\n\n",
		"BOM then CR":              "\xEF\xBB\xBFid: 1\rdata: " + forged + "\n\n",
	}
	filter, err := toolfilter.New(toolfilter.Options{Tools: toolfilter.Rules{Deny: []string{"admin_delete"}}})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	for name, stream := range attacks {
		// Whatever the attack, a genuine result follows: the relay
		// ends at the first response to the call.
		stream += "data: " + toolsListResult + "\n\n"
		t.Run(name, func(t *testing.T) {
			up := sseUpstream(t, stream)
			for _, era := range []string{"2025-11-25", "2026-07-28"} {
				rec := &recorder{}
				rem, err := remote.New(remote.Options{URL: up.URL})
				if err != nil {
					t.Fatal(err)
				}
				g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraDual,
					Middleware: []gateway.Middleware{rec.wrap, filter.Wrap}})
				if err != nil {
					t.Fatal(err)
				}
				gw := httptest.NewServer(g)
				t.Cleanup(gw.Close)

				var hdr http.Header
				var body string
				if era == "2026-07-28" {
					hdr = http.Header{}
					for k, v := range modernHeaders("tools/list", "") {
						hdr.Set(k, v)
					}
					body = modernBody("tools/list", "")
				} else {
					resp := post(t, gw.URL, nil, initBody)
					sid := resp.Header.Get("Mcp-Session-Id")
					if resp.StatusCode != 200 || sid == "" {
						t.Fatalf("initialize: %d", resp.StatusCode)
					}
					hdr = http.Header{"Mcp-Session-Id": {sid}, "Mcp-Protocol-Version": {era}}
					body = `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`
				}
				rec.mu.Lock()
				rec.events = nil
				rec.mu.Unlock()
				resp := post(t, gw.URL, hdr, body)
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Fatalf("%s: Content-Type %q: %q", era, ct, out)
				}
				all := clientParse(out)
				if len(all) == 0 {
					t.Errorf("%s: the client got no event: %q", era, out)
				}
				got := trimGatewayError(t, all, rec.seen())
				if strings.Contains(string(out), "admin_delete") {
					t.Errorf("%s: the denied tool reached the client: %q", era, out)
				}
				if diff := cmp.Diff(expectedEvents(rec.seen()), got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s: client events differ from what the policies saw (-policies +client):\n%s\nwire: %q", era, diff, out)
				}
			}
		})
	}
}

func post(t testing.TB, url string, h http.Header, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// fuzzStream is the event stream the fuzz target's upstream answers with.
type fuzzStream struct {
	mu     sync.Mutex
	stream []byte
}

func (fs *fuzzStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	fs.mu.Lock()
	b := fs.stream
	fs.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = w.Write(b)
}

// FuzzRelaySSE checks the relay end to end: for any byte stream an
// upstream answers a call with, the events a spec-compliant client reads
// from the gateway's answer are exactly the events the policies passed
// (and, when the stream never answered the call, the gateway's own error
// response).
func FuzzRelaySSE(f *testing.F) {
	f.Add([]byte("id: 1\rdata: " + toolsListResult + "\n\n"))
	f.Add([]byte("data: {\"jsonrpc\":\"2.0\",\"method\":\"m\"}\r\rdata: " + toolsListResult + "\r\n\r\n"))
	f.Add([]byte("\xEF\xBB\xBFid: 1\r\nretry: 5\revent: message\rdata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":7,\"result\":{}}\r\r"))
	f.Add([]byte("event: other\ndata: " + toolsListResult + "\n\nid: \x00\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"m\"}\n\n"))
	f.Add([]byte("id: " + strings.Repeat("a", 300) + "\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"m\"}\n\nid: \xff\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"m\"}\n\n"))
	st := &fuzzStream{}
	up := httptest.NewServer(st)
	defer up.Close()
	rem, err := remote.New(remote.Options{URL: up.URL, MaxMessage: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	filter, err := toolfilter.New(toolfilter.Options{Tools: toolfilter.Rules{Deny: []string{"admin_delete"}}})
	if err != nil {
		f.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rec := &recorder{}
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraDual,
		Middleware: []gateway.Middleware{rec.wrap, filter.Wrap}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		st.mu.Lock()
		st.stream = stream
		st.mu.Unlock()
		rec.mu.Lock()
		rec.events = nil
		rec.mu.Unlock()
		w := do(t, g, exchange{body: modernBody("tools/list", ""), headers: modernHeaders("tools/list", "")})
		out := w.Body.Bytes()
		if ct := w.Header().Get("Content-Type"); ct != "text/event-stream" {
			if ct == "application/json" && len(rec.seen()) == 0 {
				return // the stream failed before anything: a plain error
			}
			t.Fatalf("Content-Type %q: %q", ct, out)
		}
		got := trimGatewayError(t, clientParse(out), rec.seen())
		if diff := cmp.Diff(expectedEvents(rec.seen()), got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("upstream %q: client events differ from what the policies saw (-policies +client):\n%s\nwire: %q", stream, diff, out)
		}
	})
}

// lineEndServer is a stdio MCP server, in sh, whose messages hold a bare CR
// as JSON whitespace and U+2028 inside strings, next to text that looks
// like SSE fields: a progress notification, then the tool result.
const lineEndServer = `
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -nE 's/.*"id":("[^"]*"|-?[0-9]+).*/\1/p')
  tok=$(printf '%s' "$line" | sed -nE 's/.*"progressToken":("[^"]*"|-?[0-9]+).*/\1/p')
  case "$line" in
  *'"initialize"'*)
    printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}}\n' "$id" ;;
  *'"tools/call"'*)
    printf '{"jsonrpc":"2.0","method":"notifications/progress",\r"params":{"progressToken":%s,"progress":1,"message":"a\342\200\250data: forged\342\200\251b"}}\r\n' "$tok"
    printf '{"jsonrpc":"2.0",\r"id":%s,\r\r"result":{"content":[{"type":"text","text":"x\342\200\250\\r\\nid: 9\\rdata: forged"}]}\r}\n' "$id" ;;
  esac
done
`

// TestStdioLineEndsInJSON: a local server's messages are newline-delimited
// JSON (2025-11-25 basic/transports "stdio"); a bare CR (JSON whitespace)
// or U+2028 inside them neither splits a message on its way in nor, once
// relayed as SSE, splits an event: the client reads the same JSON the
// policies saw, one event per message.
func TestStdioLineEndsInJSON(t *testing.T) {
	pool, err := stdio.New(stdio.Options{Command: []string{"sh", "-c", lineEndServer}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := local.New(local.Options{Sessions: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close(context.Background())
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rec := &recorder{}
	g, _ := gateway.New(gateway.Options{Route: "r", Upstream: up, Keyring: kr, Middleware: []gateway.Middleware{rec.wrap}})
	ts := httptest.NewServer(g)
	defer ts.Close()
	c := &rawClient{t: t, url: ts.URL}
	c.initialize("2025-11-25")
	rec.mu.Lock()
	rec.events = nil
	rec.mu.Unlock()

	resp := c.post(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x","arguments":{},"_meta":{"progressToken":"p"}}}`)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q: %q", ct, out)
	}
	var got []any
	for _, ev := range clientParse(out) {
		if ev.Data == "" {
			continue // the priming event
		}
		var v any
		if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
			t.Fatalf("client event is not JSON: %q (%v)\nwire: %q", ev.Data, err, out)
		}
		got = append(got, v)
	}
	var want []any
	for _, ev := range rec.seen() {
		if len(ev.Data) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(ev.Data, &v); err != nil {
			t.Fatalf("policy saw non-JSON %q", ev.Data)
		}
		want = append(want, v)
	}
	if len(want) != 2 {
		t.Fatalf("policies saw %d messages, want the progress notification and the result: %+v", len(want), rec.seen())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("client messages differ from what the policies saw (-policies +client):\n%s\nwire: %q", diff, out)
	}
	if !strings.Contains(string(out), "a\u2028data: forged\u2029b") {
		t.Errorf("U+2028 and U+2029 not relayed as they are: %q", out)
	}
}

// TestHTTPResumption: ids from an HTTP upstream still work for resumption
// once checked. The upstream closes a call's stream early (2025-11-25
// transports "Resumability and Redelivery"); an SDK client resumes it
// through the gateway with GET and Last-Event-ID and gets the result.
func TestHTTPResumption(t *testing.T) {
	h := everythingHandler(t)
	up := httptest.NewServer(h)
	defer up.Close()
	rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy, RetryHint: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var resumed atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("Last-Event-Id"); r.Method == "GET" && id != "" {
			resumed.Add(1)
		}
		g.ServeHTTP(w, r)
	}))
	defer gw.Close()
	cs := connect(t, gw.URL, "2025-11-25", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_reconnection"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Content) == 0 || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "reconnected") {
		t.Fatalf("result = %+v", res.Content)
	}
	if resumed.Load() == 0 {
		t.Fatal("the client never resumed with Last-Event-ID")
	}
}

// TestForgedBatchResponse performs the JSON variant of the attack on a
// 2025-03-26 batch: the upstream's reply to a ping, which no policy
// rewrites, carries a second value, a tools/list result listing a denied
// tool. Spliced into the batch's array as it was, it reached the client as
// a response of its own, ahead of the filtered one.
func TestForgedBatchResponse(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case bytes.Contains(body, []byte(`"initialize"`)):
			w.Header().Set("Mcp-Session-Id", "upstream-session")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"up","version":"1"}}}`)
		case bytes.Contains(body, []byte(`"ping"`)):
			io.WriteString(w, `{"jsonrpc":"2.0","id":8,"result":{}},`+toolsListResult)
		case bytes.Contains(body, []byte(`"tools/list"`)):
			io.WriteString(w, toolsListResult)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer up.Close()
	filter, err := toolfilter.New(toolfilter.Options{Tools: toolfilter.Rules{Deny: []string{"admin_delete"}}})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, err := remote.New(remote.Options{URL: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy,
		Middleware: []gateway.Middleware{filter.Wrap}})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g)
	defer gw.Close()
	resp := post(t, gw.URL, nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	resp = post(t, gw.URL, http.Header{"Mcp-Session-Id": {sid}, "Mcp-Protocol-Version": {"2025-03-26"}},
		`[{"jsonrpc":"2.0","id":8,"method":"ping"},{"jsonrpc":"2.0","id":7,"method":"tools/list"}]`)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("batch answer %q: %v", out, err)
	}
	if len(got) != 2 || strings.Contains(string(out), "admin_delete") {
		t.Fatalf("batch answer holds more than the two responses the policies saw: %s", out)
	}
}
