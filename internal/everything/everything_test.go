//lint:file-ignore SA1019 the conformance suite exercises sampling, roots and logging, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package everything

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const legacyVersion = "2025-11-25"

func newServer(t *testing.T) *mcp.Server {
	t.Helper()
	s, err := New(Options{StepDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newHTTP serves a fresh server on a loopback httptest server and returns
// the MCP endpoint URL.
func newHTTP(t *testing.T) string {
	t.Helper()
	h, err := NewHandler(newServer(t), HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL + MCPPath
}

// testClient answers sampling and elicitation like the conformance
// harness does.
func testClient() *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "everything-test", Version: "1"}, &mcp.ClientOptions{
		CreateMessageWithToolsHandler: func(_ context.Context, req *mcp.CreateMessageWithToolsRequest) (*mcp.CreateMessageWithToolsResult, error) {
			return &mcp.CreateMessageWithToolsResult{Role: "assistant", Model: "test", Content: []mcp.Content{&mcp.TextContent{Text: "Paris"}}}, nil
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "ada", "email": "ada@example.com", "name": "Ada", "color": "blue"}}, nil
		},
	})
}

type connector func(t *testing.T) *mcp.ClientSession

func httpConnector(version string) connector {
	return func(t *testing.T) *mcp.ClientSession {
		cs, err := testClient().Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: newHTTP(t)}, &mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
}

// stdioConnector connects over two in-process pipes, the framing the stdio
// transport uses (newline-delimited JSON), without spawning a process.
func stdioConnector(version string) connector {
	return func(t *testing.T) *mcp.ClientSession { return connectStdio(t, version) }
}

func connectStdio(t *testing.T, version string) *mcp.ClientSession {
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	ss, err := newServer(t).Connect(ctx, &mcp.IOTransport{Reader: sr, Writer: sw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := testClient().Connect(ctx, &mcp.IOTransport{Reader: cr, Writer: cw}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Close()
		cancel()
	})
	return cs
}

var transports = []struct {
	name    string
	connect connector
	modern  bool
}{
	{"http-2025-11-25", httpConnector(legacyVersion), false},
	{"http-2026-07-28", httpConnector(modernVersion), true},
	{"stdio-2025-11-25", stdioConnector(legacyVersion), false},
	{"stdio-2026-07-28", stdioConnector(modernVersion), true},
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

func texts(content []mcp.Content) []string {
	var out []string
	for _, c := range content {
		if tc, ok := c.(*mcp.TextContent); ok {
			out = append(out, tc.Text)
		}
	}
	return out
}

func TestFixtures(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cs := tr.connect(t)
			if tr.modern != (cs.InitializeResult().ProtocolVersion >= modernVersion) {
				t.Fatalf("negotiated %s", cs.InitializeResult().ProtocolVersion)
			}

			t.Run("tools/list", func(t *testing.T) {
				res, err := cs.ListTools(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, tool := range res.Tools {
					names = append(names, tool.Name)
					if tool.Description == "" || tool.InputSchema == nil {
						t.Errorf("tool %s lacks a description or input schema", tool.Name)
					}
				}
				for _, want := range []string{
					"echo", "test_simple_text", "test_image_content", "test_audio_content", "test_embedded_resource",
					"test_multiple_content_types", "test_tool_with_logging", "test_tool_with_progress", "test_error_handling",
					"test_sampling", "test_elicitation", "test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums",
					"json_schema_2020_12_tool", "test_reconnection", "test_missing_capability", "test_trigger_tool_change",
					toolIRRElicitation, toolIRRMultiRound, toolIRRTamperedState, toolIRRCapabilities,
				} {
					if !slices.Contains(names, want) {
						t.Errorf("tools/list lacks %s", want)
					}
				}
			})

			calls := []struct {
				tool string
				args any
				want []string
				err  bool
			}{
				{"echo", map[string]any{"text": "hello"}, []string{"hello"}, false},
				{"test_simple_text", nil, []string{"This is a simple text response for testing."}, false},
				{"test_error_handling", nil, []string{"This tool intentionally returns an error for testing"}, true},
				{"test_sampling", map[string]any{"prompt": "Capital of France?"}, []string{"LLM response: Paris"}, false},
				{"test_elicitation", map[string]any{"message": "Who?"}, []string{`User response: action=accept, content={"color":"blue","email":"ada@example.com","name":"Ada","username":"ada"}`}, false},
				{toolIRRElicitation, nil, []string{"Hello, Ada!"}, false},
			}
			for _, c := range calls {
				t.Run("tools/call "+c.tool, func(t *testing.T) {
					res := callText(t, cs, c.tool, c.args)
					if diff := cmp.Diff(c.want, texts(res.Content)); diff != "" {
						t.Errorf("content (-want +got):\n%s", diff)
					}
					if res.IsError != c.err {
						t.Errorf("isError = %v, want %v", res.IsError, c.err)
					}
				})
			}

			t.Run("tools/call mixed content", func(t *testing.T) {
				res := callText(t, cs, "test_multiple_content_types", nil)
				var kinds []string
				for _, c := range res.Content {
					b, _ := c.MarshalJSON()
					var v struct{ Type string }
					_ = json.Unmarshal(b, &v)
					kinds = append(kinds, v.Type)
				}
				if diff := cmp.Diff([]string{"text", "image", "resource"}, kinds); diff != "" {
					t.Errorf("content types (-want +got):\n%s", diff)
				}
			})

			t.Run("resources/read template", func(t *testing.T) {
				res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "test://template/123/data"})
				if err != nil {
					t.Fatal(err)
				}
				want := []*mcp.ResourceContents{{URI: "test://template/123/data", MIMEType: "application/json", Text: `{"id":"123","templateTest":true,"data":"Data for ID: 123"}`}}
				if diff := cmp.Diff(want, res.Contents); diff != "" {
					t.Errorf("contents (-want +got):\n%s", diff)
				}
			})

			t.Run("resources/read unknown", func(t *testing.T) {
				_, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "test://nonexistent-resource-for-conformance-testing"})
				var werr *jsonrpc.Error
				if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams {
					t.Errorf("err = %v, want JSON-RPC -32602 (SEP-2164)", err)
				}
			})

			t.Run("prompts/get", func(t *testing.T) {
				res, err := cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: promptWithArguments, Arguments: map[string]string{"arg1": "hello", "arg2": "world"}})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range res.Messages {
					got = append(got, texts([]mcp.Content{m.Content})...)
				}
				if diff := cmp.Diff([]string{"Prompt with arguments: arg1='hello', arg2='world'"}, got); diff != "" {
					t.Errorf("messages (-want +got):\n%s", diff)
				}
			})

			if tr.modern {
				// Three rounds, driven by the client's MRTR middleware: only
				// the stateless protocol carries requestState across retries.
				t.Run("tools/call multi-round", func(t *testing.T) {
					res := callText(t, cs, toolIRRMultiRound, nil)
					if diff := cmp.Diff([]string{"Multi-round complete: Ada likes blue"}, texts(res.Content)); diff != "" {
						t.Errorf("content (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

func TestRequestState(t *testing.T) {
	e := &everything{stateKey: []byte(strings.Repeat("k", 32))}
	sealed, err := e.sealState(requestState{Tool: "a", Round: 2, Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st, err := e.openState(sealed, "a", now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Round != 2 || st.Name != "Ada" {
		t.Errorf("opened %+v", st)
	}
	other := &everything{stateKey: []byte(strings.Repeat("x", 32))}
	for _, tc := range []struct {
		name  string
		e     *everything
		state string
		tool  string
		now   time.Time
	}{
		{"tampered suffix", e, sealed + "-TAMPERED", "a", now},
		{"flipped payload", e, "f" + sealed[1:], "a", now},
		{"other tool", e, sealed, "b", now},
		{"expired", e, sealed, "a", now.Add(stateTTL + time.Minute)},
		{"other key", other, sealed, "a", now},
		{"empty", e, "", "a", now},
		{"no mac", e, strings.Split(sealed, ".")[0], "a", now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.e.openState(tc.state, tc.tool, tc.now); !errors.Is(err, errInvalidState) {
				t.Errorf("err = %v, want errInvalidState", err)
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	url := newHTTP(t)
	base := strings.TrimSuffix(url, MCPPath)
	host := strings.TrimPrefix(base, "http://")
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	const modernList = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}}}`

	do := func(t *testing.T, method, path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    map[string]string
		want   int
	}{
		{"health", "GET", HealthPath, "", nil, 200},
		{"evil host", "POST", MCPPath, initialize, map[string]string{"Host": "evil.example.com", "Origin": "http://evil.example.com"}, 403},
		{"evil origin", "POST", MCPPath, initialize, map[string]string{"Origin": "http://evil.example.com"}, 403},
		{"null origin", "POST", MCPPath, initialize, map[string]string{"Origin": "null"}, 403},
		{"localhost host and origin", "POST", MCPPath, initialize, map[string]string{"Host": strings.Replace(host, "127.0.0.1", "localhost", 1), "Origin": "http://" + host}, 200},
		{"modern", "POST", MCPPath, modernList, map[string]string{"Mcp-Protocol-Version": modernVersion, "Mcp-Method": "tools/list"}, 200},
		// 2026-07-28 streamable-http: MCP-Protocol-Version MUST match _meta.
		{"modern without header", "POST", MCPPath, modernList, nil, 400},
		{"modern GET", "GET", MCPPath, "", map[string]string{"Mcp-Protocol-Version": modernVersion}, 405},
		{"unknown session", "POST", MCPPath, `{"jsonrpc":"2.0","id":2,"method":"ping"}`, map[string]string{"Mcp-Session-Id": "nope", "Mcp-Protocol-Version": legacyVersion}, 404},
		{"unsupported version", "POST", MCPPath, initialize, map[string]string{"Mcp-Protocol-Version": "1999-01-01"}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(t, tc.method, tc.path, tc.body, tc.hdr).StatusCode; got != tc.want {
				t.Errorf("status = %d, want %d", got, tc.want)
			}
		})
	}

	// 2025-11-25 basic/transports "Session Management": after DELETE, the
	// session id MUST answer 404.
	t.Run("delete then 404", func(t *testing.T) {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(t.Context(),
			&mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: legacyVersion})
		if err != nil {
			t.Fatal(err)
		}
		id := cs.ID()
		if id == "" {
			t.Fatal("no session id")
		}
		hdr := map[string]string{"Mcp-Session-Id": id, "Mcp-Protocol-Version": legacyVersion}
		if got := do(t, "DELETE", MCPPath, "", hdr).StatusCode; got != http.StatusNoContent {
			t.Fatalf("DELETE status = %d", got)
		}
		if got := do(t, "POST", MCPPath, `{"jsonrpc":"2.0","id":3,"method":"ping"}`, hdr).StatusCode; got != http.StatusNotFound {
			t.Errorf("POST after DELETE status = %d, want 404", got)
		}
		cs.Close()
	})
}

func TestAllowedHosts(t *testing.T) {
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, "mcp.internal": true}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"localhost:3000", true}, {"LOCALHOST:1", true}, {"127.0.0.1:8080", true},
		{"[::1]:9", true}, {"[::1]", true}, {"mcp.internal:443", true}, {"localhost.", true},
		{"", false}, {"evil.example.com", false}, {"localhost.evil.com", false}, {"127.0.0.2", false},
		{"a:b:c", false}, {"::1", false}, {"localhost@evil", false},
	} {
		if got := allowedHost(allowed, tc.host); got != tc.want {
			t.Errorf("allowedHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"http://localhost:3000", true}, {"https://127.0.0.1", true}, {"http://[::1]:1", true},
		{"null", false}, {"file://localhost", false}, {"http://evil.com", false},
		{"http://user@localhost", false}, {"http://localhost/path", false}, {"", false},
	} {
		if got := allowedOrigin(allowed, tc.origin); got != tc.want {
			t.Errorf("allowedOrigin(%q) = %v, want %v", tc.origin, got, tc.want)
		}
	}
	if _, err := NewHandler(newServer(t), HandlerOptions{AllowedHosts: []string{"evil.com/x"}}); err == nil {
		t.Error("NewHandler accepted a host with a path")
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{StateKey: []byte("short")}); err == nil {
		t.Error("New accepted a 5-byte state key")
	}
	if _, err := NewHandler(nil, HandlerOptions{}); err == nil {
		t.Error("NewHandler accepted a nil server")
	}
}

func FuzzWantsModern(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`))
	f.Add([]byte(`{"method":"server/discover"}`))
	f.Add([]byte(`[{"method":"initialize"}]`))
	f.Add([]byte(`{"params":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = wantsModern(body)
	})
}

// TestOpenStateOneSpelling: a state spelled another way (a line break,
// the MAC's unused trailing bits set) is refused: each has one spelling.
func TestOpenStateOneSpelling(t *testing.T) {
	e := &everything{stateKey: []byte(strings.Repeat("k", 32))}
	sealed, err := e.sealState(requestState{Tool: "a", Round: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.openState(sealed, "a", time.Now()); err != nil {
		t.Fatal(err)
	}
	// The MAC is 32 bytes: 43 characters, the last carrying 2 unused bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sealed[len(sealed)-1])
	for name, s := range map[string]string{
		"line break":    sealed[:4] + "\r\n" + sealed[4:],
		"trailing bits": sealed[:len(sealed)-1] + string(alphabet[last|1]),
	} {
		if _, err := e.openState(s, "a", time.Now()); err == nil {
			t.Errorf("%s: accepted %q", name, s)
		}
	}
}

func FuzzOpenState(f *testing.F) {
	e := &everything{stateKey: []byte(strings.Repeat("k", 32))}
	sealed, err := e.sealState(requestState{Tool: "a", Round: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(sealed + "-TAMPERED")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := e.openState(s, "a", time.Now()); err == nil && s != sealed {
			// Another spelling of the same payload and MAC (line breaks,
			// trailing bits) is refused too: each state has one spelling.
			t.Errorf("accepted forged state %q", s)
		}
	})
}

func FuzzAllowedOrigin(f *testing.F) {
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, s := range []string{"http://localhost:1", "null", "http://[::1", "http://a@b", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		if allowedOrigin(allowed, origin) && !strings.Contains(strings.ToLower(origin), "localhost") &&
			!strings.Contains(origin, "127.0.0.1") && !strings.Contains(origin, "::1") {
			t.Errorf("accepted origin %q", origin)
		}
	})
}
