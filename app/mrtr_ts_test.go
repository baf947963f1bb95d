//lint:file-ignore SA1019 the bridge carries sampling and roots across eras, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/internal/everything"
)

// Multi round-trip requests across eras with the TypeScript SDK's peers
// (testdata/node): v1 (@modelcontextprotocol/sdk 1.32.2, 2025-11-25 at
// most) as the legacy client and server, v2 (@modelcontextprotocol/client
// and /server 2.4.0, pinned to 2026-07-28) as the 2026-07-28 client and
// server, and the go-sdk and the conformance target (internal/everything)
// on the other side, all through one running mcpfort over loopback HTTP,
// with HTTP and stdio upstreams.

// startNodeHTTP runs a testdata/node server script in HTTP mode and returns
// the URL it printed; it is killed when the test ends.
func startNodeHTTP(t *testing.T, node, dir, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(node, append([]string{script, "http"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
	}()
	var v struct{ URL string }
	select {
	case l := <-line:
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.URL == "" {
			t.Fatalf("%s printed %q", script, l)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start", script)
	}
	return v.URL
}

// inputRun is what legacy-input-client.mjs and modern-input-client.mjs
// print.
type inputRun struct {
	Asked struct{ Elicitation, Sampling, Roots int }
	Era   string
	// IsError is the tool result's; Error a failure of the call itself.
	IsError bool
	Result  json.RawMessage
	Error   *struct {
		Code    any
		Message string
	}
}

// answer is the JSON object the TypeScript servers' tools answer with.
type answer struct {
	Action, Name, Said, Model string
	Roots                     []string
	Error                     string
	Code                      int64
}

func (r inputRun) answer(t *testing.T) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(r.Result, &a); err != nil {
		t.Fatalf("result %s is not an answer: %v (run %+v)", r.Result, err, r)
	}
	return a
}

func (r inputRun) text() string {
	var s string
	_ = json.Unmarshal(r.Result, &s)
	return s
}

func runInputClient(t *testing.T, node, dir, script, url, tool, args string, opts ...string) inputRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script, url, tool, args}, opts...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", script, tool, err, out, stderr)
	}
	var r inputRun
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s printed %q: %v", script, out, err)
	}
	return r
}

// wantAll checks a complete answer to ask_all: the elicited name, the
// completion of a prompt naming it, the roots, each asked once.
func wantAll(t *testing.T, what string, r inputRun, said string) {
	t.Helper()
	if r.Error != nil || r.IsError {
		t.Fatalf("%s: %+v %s", what, r.Error, r.Result)
	}
	a := r.answer(t)
	if a.Action != "accept" || a.Name != "ada" || a.Said != said || a.Model != "ts-model" ||
		len(a.Roots) != 1 || a.Roots[0] != "file:///work/ts" {
		t.Fatalf("%s: answer %+v", what, a)
	}
	if r.Asked.Elicitation != 1 || r.Asked.Sampling != 1 || r.Asked.Roots != 1 {
		t.Fatalf("%s: the client was asked %+v, want each once", what, r.Asked)
	}
}

// TestTypeScriptInputAcrossEras: the TypeScript SDK's legacy server asks
// a 2026-07-28 client (the TypeScript SDK's v2, the go-sdk) for input on
// the call's stream and gets it through InputRequiredResults and retries;
// the TypeScript SDK's 2026-07-28 server asks a legacy client (the
// TypeScript SDK's v1, the go-sdk) with InputRequiredResults and gets it
// through requests on the call's stream; the TypeScript clients do the
// same with the conformance target's elicitation and sampling tools in
// the other era. Hostile and refusing peers: declined elicitations, a
// client answering with wrong ids first, upstreams asking for input the
// client did not declare.
func TestTypeScriptInputAcrossEras(t *testing.T) {
	node, dir := nodeDeps(t)
	legacyHTTP := startNodeHTTP(t, node, dir, "legacy-input-server.mjs")
	modernHTTP := startNodeHTTP(t, node, dir, "modern-input-server.mjs")
	modernCapless := startNodeHTTP(t, node, dir, "modern-input-server.mjs", "ignore-caps")
	ev := httptest.NewServer(everythingHTTP(t))
	defer ev.Close()
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
servers:
  - {name: legacy-http, path: /legacy-http, era: legacy, http: {url: %[1]q}}
  - {name: legacy-stdio, path: /legacy-stdio, era: legacy, stdio: {command: [%[2]q, %[3]q, stdio]}}
  - {name: modern-http, path: /modern-http, era: modern, http: {url: %[4]q}}
  - {name: modern-stdio, path: /modern-stdio, era: modern, stdio: {command: [%[2]q, %[5]q, stdio]}}
  - {name: modern-capless, path: /modern-capless, era: modern, http: {url: %[6]q}}
  - {name: everything-legacy, path: /everything-legacy, era: legacy, http: {url: %[7]q}}
  - {name: everything-modern, path: /everything-modern, era: modern, http: {url: %[7]q}}
`, legacyHTTP, node, filepath.Join(dir, "legacy-input-server.mjs"), modernHTTP,
		filepath.Join(dir, "modern-input-server.mjs"), modernCapless, ev.URL+everything.MCPPath))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	base, stop := start(t, cfg)
	defer stop()
	const modernClient, legacyClient = "modern-input-client.mjs", "legacy-input-client.mjs"

	for _, route := range []string{"legacy-http", "legacy-stdio"} {
		t.Run("2026 client, legacy TypeScript server, "+route, func(t *testing.T) {
			url := base + "/" + route
			// One request at a time: one InputRequiredResult per request,
			// three rounds.
			r := runInputClient(t, node, dir, modernClient, url, "ask_all", "{}")
			if r.Era != "modern" {
				t.Fatalf("the client speaks %q", r.Era)
			}
			wantAll(t, "ask_all", r, "reply to: Greet ada")
			// Three at once: one round with three input requests.
			wantAll(t, "ask_parallel", runInputClient(t, node, dir, modernClient, url, "ask_parallel", "{}"), "reply to: Greet someone")
			// Declined: the server learns it, and asks nothing more.
			r = runInputClient(t, node, dir, modernClient, url, "ask_all", "{}", "decline")
			if a := r.answer(t); a.Action != "decline" || r.Asked.Elicitation != 1 || r.Asked.Sampling+r.Asked.Roots != 0 {
				t.Fatalf("declined: %+v asked %+v", a, r.Asked)
			}
			// The server asks for roots without checking the client
			// declared them: the gateway does not pass the request on (a
			// 2026-07-28 server MUST NOT), and answers it as a legacy
			// client without roots does.
			r = runInputClient(t, node, dir, modernClient, url, "ask_roots", "{}", "caps=elicitation,sampling")
			if a := r.answer(t); r.Error != nil || !r.IsError || a.Code != -32601 || r.Asked.Roots != 0 {
				t.Fatalf("roots not declared: %+v %s asked %+v", r.Error, r.Result, r.Asked)
			}
			// Likewise sampling, asked with the rest at once: the call
			// goes on with what the client could answer, and the server
			// fails it itself.
			r = runInputClient(t, node, dir, modernClient, url, "ask_parallel", "{}", "caps=elicitation,roots")
			if r.Error != nil || !r.IsError || !strings.Contains(r.text(), "-32601") || r.Asked.Sampling != 0 {
				t.Fatalf("sampling not declared: %+v %s asked %+v", r.Error, r.Result, r.Asked)
			}
		})
	}

	t.Run("go-sdk 2026 client, legacy TypeScript server", func(t *testing.T) {
		cs := goInputClient(t, base+"/legacy-http", "2026-07-28")
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask_all", Arguments: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; cs.InitializeResult().ProtocolVersion != "2026-07-28" ||
			!strings.Contains(got, `"name":"ada"`) || !strings.Contains(got, `"said":"go: Greet ada"`) || !strings.Contains(got, `"roots":["file:///work/go"]`) {
			t.Fatalf("%s: %s", cs.InitializeResult().ProtocolVersion, got)
		}
	})

	for _, route := range []string{"modern-http", "modern-stdio"} {
		t.Run("legacy TypeScript client, 2026 TypeScript server, "+route, func(t *testing.T) {
			url := base + "/" + route
			wantAll(t, "ask_all", runInputClient(t, node, dir, legacyClient, url, "ask_all", "{}"), "reply to: Greet ada")
			// Before each answer the client posts one with an id of its
			// own and others' content: the call completes with the real
			// answers only.
			wantAll(t, "forged ids", runInputClient(t, node, dir, legacyClient, url, "ask_all", "{}", "forge"), "reply to: Greet ada")
			r := runInputClient(t, node, dir, legacyClient, url, "ask_all", "{}", "decline")
			if a := r.answer(t); a.Action != "decline" || r.Asked.Sampling != 0 {
				t.Fatalf("declined: %+v asked %+v", a, r.Asked)
			}
			// The client refuses the sampling with an error: the call
			// fails with that error, code and message, as it would on a
			// legacy server relaying it.
			r = runInputClient(t, node, dir, legacyClient, url, "ask_all", "{}", "reject")
			if r.Error == nil || fmt.Sprint(r.Error.Code) != "-1" || !strings.Contains(r.Error.Message, "User rejected sampling request") || r.Asked.Sampling != 1 {
				t.Fatalf("sampling refused: %+v asked %+v", r.Error, r.Asked)
			}
			// The server sees the client's capabilities (forwarded in
			// _meta) and refuses, as 2026-07-28 says, with -32021.
			r = runInputClient(t, node, dir, legacyClient, url, "ask_all", "{}", "caps=elicitation,sampling")
			if r.Error == nil || fmt.Sprint(r.Error.Code) != "-32021" || r.Asked != (inputRun{}).Asked {
				t.Fatalf("roots not declared: %+v asked %+v", r.Error, r.Asked)
			}
		})
	}

	t.Run("legacy TypeScript client, 2026 server asking for undeclared input", func(t *testing.T) {
		// The upstream ignores the declared capabilities and asks for
		// roots: the gateway sends the client nothing (a legacy server
		// uses only negotiated capabilities) and fails the call with
		// -32021 naming the capability.
		r := runInputClient(t, node, dir, legacyClient, base+"/modern-capless", "ask_all", "{}", "caps=elicitation,sampling")
		if r.Error == nil || fmt.Sprint(r.Error.Code) != "-32021" || !strings.Contains(r.Error.Message, "roots/list") || r.Asked != (inputRun{}).Asked {
			t.Fatalf("roots not declared: %+v asked %+v", r.Error, r.Asked)
		}
		// With roots declared, the same upstream completes.
		wantAll(t, "declared", runInputClient(t, node, dir, legacyClient, base+"/modern-capless", "ask_all", "{}"), "reply to: Greet ada")
	})

	t.Run("go-sdk legacy client, 2026 TypeScript server", func(t *testing.T) {
		cs := goInputClient(t, base+"/modern-http", "2025-11-25")
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask_all", Arguments: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; cs.InitializeResult().ProtocolVersion != "2025-11-25" ||
			!strings.Contains(got, `"name":"ada"`) || !strings.Contains(got, `"said":"go: Greet ada"`) || !strings.Contains(got, `"roots":["file:///work/go"]`) {
			t.Fatalf("%s: %s", cs.InitializeResult().ProtocolVersion, got)
		}
	})

	t.Run("2026 TypeScript client, conformance target as legacy server", func(t *testing.T) {
		url := base + "/everything-legacy"
		r := runInputClient(t, node, dir, modernClient, url, "test_elicitation", `{"message":"who?"}`)
		if !strings.Contains(r.text(), `"username":"username-of-ada"`) || !strings.Contains(r.text(), "action=accept") || r.Asked.Elicitation != 1 {
			t.Fatalf("test_elicitation: %+v %s", r.Error, r.Result)
		}
		r = runInputClient(t, node, dir, modernClient, url, "test_sampling", `{"prompt":"capital?"}`)
		if r.text() != "LLM response: reply to: capital?" || r.Asked.Sampling != 1 {
			t.Fatalf("test_sampling: %+v %s", r.Error, r.Result)
		}
		// And the go-sdk at 2026-07-28.
		cs := goInputClient(t, url, "2026-07-28")
		for tool, want := range map[string]string{
			"test_elicitation": `User response: action=accept, content={"email":"ada@example.com","name":"ada","username":"ada"}`,
			"test_sampling":    "LLM response: go: capital?",
		} {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": "who?", "prompt": "capital?"}})
			if err != nil || res.Content[0].(*mcp.TextContent).Text != want {
				t.Fatalf("go-sdk %s: %v %+v", tool, err, res)
			}
		}
	})

	t.Run("legacy TypeScript client, conformance target as 2026 server", func(t *testing.T) {
		url := base + "/everything-modern"
		for tool, want := range map[string]string{
			"test_input_required_result_elicitation": "Hello, ada!",
			"test_input_required_result_sampling":    "Sampling response: reply to: What is the capital of France?",
			"test_input_required_result_list_roots":  "Client exposed 1 root(s): file:///work/ts",
			"test_input_required_result_multi_round": "Multi-round complete: ada likes",
		} {
			r := runInputClient(t, node, dir, legacyClient, url, tool, "{}")
			if !strings.HasPrefix(r.text(), want) {
				t.Errorf("%s: %+v %s, want %q", tool, r.Error, r.Result, want)
			}
		}
		// The legacy test_elicitation, its elicitation asked as an
		// InputRequiredResult by the 2026-07-28 target.
		r := runInputClient(t, node, dir, legacyClient, url, "test_elicitation", `{"message":"who?"}`, "decline")
		if !strings.Contains(r.text(), "action=decline") {
			t.Fatalf("test_elicitation declined: %+v %s", r.Error, r.Result)
		}
	})
}

// goInputClient connects a go-sdk client at version, answering
// elicitations with the name ada, samplings with "go: " and the prompt,
// and roots with file:///work/go.
func goInputClient(t *testing.T, url, version string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "go-input", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			content := map[string]any{"name": "ada"}
			schema, _ := req.Params.RequestedSchema.(map[string]any)
			props, _ := schema["properties"].(map[string]any)
			if _, ok := props["email"]; ok {
				content["username"], content["email"] = "ada", "ada@example.com"
			}
			return &mcp.ElicitResult{Action: "accept", Content: content}, nil
		},
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Model: "ts-model", Content: &mcp.TextContent{Text: "go: " + req.Params.Messages[0].Content.(*mcp.TextContent).Text}}, nil
		},
	})
	c.AddRoots(&mcp.Root{URI: "file:///work/go", Name: "go"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}
