package matrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/headers"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/policy/schema"
	"github.com/mcpfort/mcpfort/gateway/policy/scopes"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
)

// cell is one combination the policies run in: an upstream kind, the
// client's era and the upstream's era. When the eras differ the gateway
// bridges.
type cell struct {
	kind           policytest.StreamKind
	legacyClient   bool
	legacyUpstream bool
}

func era(legacy bool) string {
	if legacy {
		return "2025-11-25"
	}
	return "2026-07-28"
}

func (c cell) String() string {
	return fmt.Sprintf("%s/client-%s/upstream-%s", c.kind, era(c.legacyClient), era(c.legacyUpstream))
}

// cells are every combination.
var cells = func() []cell {
	var cs []cell
	for _, kind := range []policytest.StreamKind{policytest.HTTP, policytest.Stdio} {
		for _, lc := range []bool{true, false} {
			for _, lu := range []bool{true, false} {
				cs = append(cs, cell{kind, lc, lu})
			}
		}
	}
	return cs
}()

// env is one cell's gateway, in front of a fresh upstream that records
// what it receives.
type env struct {
	t    *testing.T
	cell cell
	url  string
	up   *recorder
}

// start runs a gateway with opts in front of a new upstream of the cell.
func start(t *testing.T, c cell, opts policytest.Options) *env {
	t.Helper()
	opts.UpstreamEra = gateway.EraModern
	if c.legacyUpstream {
		opts.UpstreamEra = gateway.EraLegacy
	}
	e := &env{t: t, cell: c}
	switch c.kind {
	case policytest.HTTP:
		url, rec := newHTTPUpstream(t, c.legacyUpstream)
		e.url, e.up = policytest.NewGateway(t, url, opts).URL, rec
	case policytest.Stdio:
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		up := policytest.NewStdioUpstream(t, []string{exe}, []string{recordEnv + "=" + dir})
		e.url, e.up = policytest.NewGatewayFor(t, up, opts).URL, &recorder{dir: dir}
	}
	return e
}

// client opens a client of the cell's era as the caller h.
func (e *env) client(h http.Header) *policytest.RawClient {
	e.t.Helper()
	if e.cell.legacyClient {
		return policytest.NewLegacyClient(e.t, e.url, h)
	}
	return policytest.NewModernClient(e.t, e.url, h)
}

// call makes a tools/call and returns the HTTP answer and the JSON-RPC
// response the client received.
func (e *env) call(c *policytest.RawClient, id, tool, args string) (*policytest.RawResponse, string) {
	e.t.Helper()
	r := c.Call(id, "tools/call", `{"name":"`+tool+`","arguments":`+args+`}`)
	res, ok := r.Response()
	if !ok {
		e.t.Fatalf("%s: no response (HTTP %d): %q", tool, r.Status, r.Seen)
	}
	return r, res
}

// upstreamGot checks that the upstream received exactly n calls of tool
// and that every one of them contains each of want.
func (e *env) upstreamGot(tool string, n int, want ...string) []string {
	e.t.Helper()
	got := e.up.calls(e.t, "tools/call", tool)
	if len(got) != n {
		e.t.Fatalf("the upstream received %d calls of %s, want %d: %q", len(got), tool, n, got)
	}
	for _, p := range got {
		for _, w := range want {
			if !strings.Contains(p, w) {
				e.t.Fatalf("the upstream received %s without %s", p, w)
			}
		}
	}
	return got
}

func has(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Fatalf("%s lacks %s: %s", what, w, s)
		}
	}
}

func hasNot(t *testing.T, what, s string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(s, b) {
			t.Fatalf("%s contains %s: %s", what, b, s)
		}
	}
}

var (
	alice      = policytest.Identity("alice", "app", "mcp:read")
	aliceAdmin = policytest.Identity("alice", "app", "mcp:read", "mcp:admin")
)

// policies are the rows of the matrix: each runs its policy in a gateway
// of one cell (start) and checks what the upstream and the client got.
var policies = []struct {
	name string
	run  func(t *testing.T, c cell)
}{
	{"audit", func(t *testing.T, c cell) {
		sink := &memorySink{added: make(chan struct{}, 1)}
		l, err := audit.New(audit.Options{Sink: sink, BatchDelay: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close(context.Background()) })
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
		_, res := e.call(e.client(alice), "1", "echo", `{"text":"audited"}`)
		has(t, "the client's answer", res, `"text":"audited"`)
		e.upstreamGot("echo", 1, `"audited"`)
		r := sink.await(t, func(r audit.Record) bool { return r.Method == "tools/call" && r.Tool == "echo" })
		if r.Subject != "alice" || r.Client != "app" || r.Decision != audit.Allow || r.Status != audit.StatusOK || r.Server != "everything" {
			t.Fatalf("audit record %+v", r)
		}
	}},
	{"audit input", func(t *testing.T, c cell) {
		// Each round trip of a call needing client input is recorded,
		// bridged or not: the call asking (with the kinds of input it
		// asked for), and the answers (a 2026-07-28 retry, or a legacy
		// client's response to the server's request).
		sink := &memorySink{added: make(chan struct{}, 1)}
		l, err := audit.New(audit.Options{Sink: sink, BatchDelay: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close(context.Background()) })
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
		cl := e.client(alice)
		const roots = `{"roots":[{"uri":"file:///home/ada","name":"home"}]}`
		asked := func(r audit.Record) bool {
			return r.Tool == "ask_roots" && strings.Contains(r.Reason, "input: asked the client for roots/list")
		}
		var res string
		if c.legacyClient {
			r := cl.Call("1", "tools/call", `{"name":"ask_roots","arguments":{}}`)
			if !r.Until(`"roots/list"`) {
				t.Fatalf("no roots/list request on the call's stream: %q", r.Seen)
			}
			var req struct{ ID json.RawMessage }
			if err := json.Unmarshal([]byte(r.Seen[len(r.Seen)-1]), &req); err != nil || req.ID == nil {
				t.Fatalf("server request %q: %v", r.Seen[len(r.Seen)-1], err)
			}
			cl.Send(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":` + roots + `}`).Close()
			var ok bool
			if res, ok = r.Response(); !ok {
				t.Fatalf("no answer after the roots: %q", r.Seen)
			}
			if rec := sink.await(t, asked); rec.Status != audit.StatusOK {
				t.Fatalf("call record %+v", rec)
			}
			ans := sink.await(t, func(r audit.Record) bool { return r.Method == "" && r.RPCID == string(req.ID) })
			if ans.Status != audit.StatusAccepted || !strings.HasPrefix(ans.ArgsHash, "sha256:") || ans.Subject != "alice" ||
				!strings.Contains(ans.Reason, "input: the client's answer to a server request") {
				t.Fatalf("answer record %+v", ans)
			}
		} else {
			const caps = `"_meta":{"io.modelcontextprotocol/clientCapabilities":{"roots":{}}}`
			_, first := e.call(cl, "1", "ask_roots", `{},`+caps)
			var irr struct {
				Result struct {
					ResultType    string
					InputRequests map[string]json.RawMessage
					RequestState  string
				}
			}
			if err := json.Unmarshal([]byte(first), &irr); err != nil || irr.Result.ResultType != "input_required" || len(irr.Result.InputRequests) != 1 {
				t.Fatalf("first answer %s: %v", first, err)
			}
			retry := `{"name":"ask_roots","arguments":{},` + caps + `,"inputResponses":{`
			for k := range irr.Result.InputRequests {
				retry += strconv.Quote(k) + ":" + roots
			}
			retry += "}"
			if irr.Result.RequestState != "" {
				retry += `,"requestState":` + strconv.Quote(irr.Result.RequestState)
			}
			var ok bool
			if res, ok = cl.Call("2", "tools/call", retry+"}").Response(); !ok {
				t.Fatal("no answer to the retry")
			}
			if rec := sink.await(t, asked); rec.Status != audit.StatusInputRequired || rec.RPCID != "1" {
				t.Fatalf("first record %+v", rec)
			}
			rec := sink.await(t, func(r audit.Record) bool { return r.Tool == "ask_roots" && r.RPCID == "2" })
			if rec.Status != audit.StatusOK || !strings.Contains(rec.Reason, "input: answers 1 input requests") {
				t.Fatalf("retry record %+v", rec)
			}
		}
		has(t, "the answer", res, "roots: file:///home/ada")
	}},
	{"scopes", func(t *testing.T, c cell) {
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{
			scopes.New(scopes.Options{Tools: []scopes.Rule{{Pattern: "admin_*", Scopes: []string{"mcp:admin"}}}}),
		}})
		cl := e.client(alice)
		r, res := e.call(cl, "1", "admin_delete", `{}`)
		if ch := r.Header.Get("Www-Authenticate"); r.Status != http.StatusForbidden || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, "mcp:admin") {
			t.Fatalf("without the scope: HTTP %d, challenge %q, %s", r.Status, ch, res)
		}
		hasNot(t, "the refusal", res, "deleted")
		e.upstreamGot("admin_delete", 0)
		list, _ := cl.Call("2", "tools/list", `{}`).Response()
		has(t, "tools/list without the scope", list, `"name":"echo"`)
		hasNot(t, "tools/list without the scope", list, `"name":"admin_delete"`)
		cl.Header = aliceAdmin
		_, res = e.call(cl, "3", "admin_delete", `{}`)
		has(t, "the answer with the scope", res, "deleted")
		e.upstreamGot("admin_delete", 1)
	}},
	{"ratelimit", func(t *testing.T, c cell) {
		l, err := ratelimit.New(ratelimit.Options{Rules: []ratelimit.Rule{
			{Name: "calls", By: []ratelimit.Dimension{ratelimit.BySubject}, Limit: 1, Period: time.Hour, Methods: []string{"tools/call"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
		cl := e.client(alice)
		_, res := e.call(cl, "1", "echo", `{"text":"first"}`)
		has(t, "the first answer", res, "first")
		r, res := e.call(cl, "2", "echo", `{"text":"second"}`)
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("over the limit: HTTP %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
		}
		has(t, "the refusal", res, `"code":-31004`)
		e.upstreamGot("echo", 1, "first")
	}},
	{"toolfilter", func(t *testing.T, c cell) {
		f, err := toolfilter.New(toolfilter.Options{Tools: toolfilter.Rules{Deny: []string{"admin_*"}}})
		if err != nil {
			t.Fatal(err)
		}
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{f.Wrap}})
		cl := e.client(alice)
		list, _ := cl.Call("1", "tools/list", `{}`).Response()
		has(t, "tools/list", list, `"name":"echo"`, `"name":"search"`)
		hasNot(t, "tools/list", list, "admin_delete")
		if n := len(e.up.calls(t, "tools/list", "")); n == 0 {
			t.Fatal("the upstream was never asked for its tools")
		}
		_, res := e.call(cl, "2", "admin_delete", `{}`)
		has(t, "the refusal", res, `"error"`, "Forbidden")
		e.upstreamGot("admin_delete", 0)
	}},
	{"schema", func(t *testing.T, c cell) {
		v, err := schema.New(schema.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{v.Wrap}})
		cl := e.client(alice)
		_, res := e.call(cl, "1", "search", `{"query":"cats","limit":500}`)
		has(t, "the refusal", res, `"isError":true`, "/limit")
		e.upstreamGot("search", 0)
		_, res = e.call(cl, "2", "search", `{"query":"dogs","limit":5}`)
		has(t, "the valid call's answer", res, "found:", "dogs")
		hasNot(t, "the valid call's answer", res, `"isError":true`)
		e.upstreamGot("search", 1, "dogs")
	}},
	{"pinning", func(t *testing.T, c cell) {
		p, err := pinning.New(pinning.Options{ServerOptions: pinning.ServerOptions{TrustOnFirstUse: true}})
		if err != nil {
			t.Fatal(err)
		}
		// The catalog is listed again for every call: the drift is seen
		// at the next call, whatever the route's TTL would say.
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{p.Wrap}, ToolsTTL: time.Nanosecond})
		cl := e.client(alice)
		list, _ := cl.Call("1", "tools/list", `{}`).Response()
		has(t, "tools/list before the change", list, `"name":"echo"`)
		_, res := e.call(cl, "2", "echo", `{"text":"before"}`)
		has(t, "echo before the change", res, "before")
		_, res = e.call(cl, "3", "poke", `{}`) // redefines echo
		has(t, "poke", res, "poked")
		list, _ = cl.Call("4", "tools/list", `{}`).Response()
		has(t, "tools/list after the change", list, `"name":"poke"`)
		hasNot(t, "tools/list after the change", list, `"name":"echo"`)
		_, res = e.call(cl, "5", "echo", `{"text":"after"}`)
		has(t, "echo after the change", res, `"error"`, "quarantined")
		e.upstreamGot("echo", 1, "before")
	}},
	{"pii", func(t *testing.T, c cell) {
		p, err := pii.New(pii.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := start(t, c, policytest.Options{Middleware: []gateway.Middleware{p.Wrap}})
		cl := e.client(alice)
		_, res := e.call(cl, "1", "echo", `{"text":"I am bob@example.com"}`)
		e.upstreamGot("echo", 1, "b***@example.com")
		hasNot(t, "what the upstream received", strings.Join(e.up.calls(t, "tools/call", "echo"), ""), "bob@")
		has(t, "the client's answer", res, "I am b***@example.com")
		_, res = e.call(cl, "2", "profile", `{}`)
		has(t, "the client's answer", res, "contact a***@example.com")
		hasNot(t, "the client's answer", res, "ada@")
		r := cl.Call("3", "tools/call", `{"name":"notify","arguments":{},"_meta":{"progressToken":"p1"}}`)
		if _, ok := r.Response(); !ok || !r.Saw("notifications/progress") {
			t.Fatalf("notify: HTTP %d %q", r.Status, r.Seen)
		}
		all := strings.Join(r.Seen, "\n")
		has(t, "the notification", all, "working for a***@example.com")
		hasNot(t, "the notification", all, "ann@")
	}},
	{"headers", func(t *testing.T, c cell) {
		h, err := headers.New(headers.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := start(t, c, policytest.Options{Wrap: h.Wrap})
		// An authenticated request: its answer must not be cached.
		id := alice.Clone()
		id.Set("Authorization", "Bearer token")
		r, res := e.call(e.client(id), "1", "echo", `{"text":"headed"}`)
		has(t, "the client's answer", res, "headed")
		for k, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := r.Header.Get(k); !strings.Contains(got, want) {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		e.upstreamGot("echo", 1, `"text":"headed"`)
	}},
}

// TestMatrix runs every policy in every cell.
func TestMatrix(t *testing.T) {
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			for _, c := range cells {
				t.Run(c.String(), func(t *testing.T) {
					t.Parallel()
					p.run(t, c)
				})
			}
		})
	}
}

// memorySink keeps the audit log's records.
type memorySink struct {
	mu    sync.Mutex
	recs  []audit.Record
	added chan struct{}
}

func (s *memorySink) Append(_ context.Context, recs []audit.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, recs...)
	s.mu.Unlock()
	select {
	case s.added <- struct{}{}:
	default:
	}
	return nil
}

// await returns the first record that match accepts, waiting for the log
// to write it.
func (s *memorySink) await(t *testing.T, match func(audit.Record) bool) audit.Record {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, r := range s.recs {
			if match(r) {
				s.mu.Unlock()
				return r
			}
		}
		s.mu.Unlock()
		select {
		case <-s.added:
		case <-deadline.C:
			t.Fatalf("no such audit record among %+v", s.recs)
		}
	}
}
