//lint:file-ignore SA1019 the matrix upstream asks for roots, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package matrix_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
)

// recordEnv, set in the environment of the test binary, makes it the
// matrix upstream over stdio, writing every line it reads to a file in
// the directory the variable names.
const recordEnv = "MCPFORT_MATRIX_UPSTREAM_RECORD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(recordEnv); dir != "" {
		serveStdio(dir)
	}
	policytest.ServeStreamServerIfAsked()
	os.Exit(m.Run())
}

// serveStdio runs the matrix upstream on stdin and stdout, recording what
// it reads in dir/<pid>.jsonl (each process of a pool has its own file),
// and exits.
func serveStdio(dir string) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(os.Getpid())+".jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in := struct {
		io.Reader
		io.Closer
	}{io.TeeReader(os.Stdin, f), os.Stdin}
	err = newServer().Run(context.Background(), &mcp.IOTransport{Reader: in, Writer: os.Stdout})
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// newServer is the matrix upstream: the stream server of policytest
// (tools echo and poke, a public and a private resource) and the tools
// the policies act on.
func newServer() *mcp.Server {
	srv := policytest.StreamServer()
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	object := json.RawMessage(`{"type":"object"}`)
	srv.AddTool(&mcp.Tool{Name: "admin_delete", Description: "deletes everything", InputSchema: object},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) { return text("deleted"), nil })
	srv.AddTool(&mcp.Tool{Name: "search", Description: "searches", InputSchema: json.RawMessage(policytest.SearchSchema)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return text("found: " + string(req.Params.Arguments)), nil
		})
	srv.AddTool(&mcp.Tool{Name: "profile", Description: "returns a customer's contact", InputSchema: object},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return text("contact ada@example.com"), nil
		})
	srv.AddTool(&mcp.Tool{Name: "notify", Description: "reports progress naming a person", InputSchema: object},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if tok := req.Params.GetProgressToken(); tok != nil {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 1, Message: "working for ann@example.com"}); err != nil {
					return nil, err
				}
			}
			return text("notified"), nil
		})
	// ask_roots needs the client's roots (2026-07-28 basic/patterns/mrtr):
	// a legacy session gets a roots/list request on the call's stream, a
	// 2026-07-28 call an InputRequiredResult.
	srv.AddTool(&mcp.Tool{Name: "ask_roots", Description: "asks for the client's roots", InputSchema: object},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if r, ok := req.Params.InputResponses["roots"].(*mcp.ListRootsResult); ok && r != nil && len(r.Roots) > 0 {
				return text("roots: " + r.Roots[0].URI), nil
			}
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"roots": &mcp.ListRootsParams{}}}, nil
		})
	return srv
}

// recorder keeps what an upstream received: JSON-RPC messages, one per
// element, as the upstream read them.
type recorder struct {
	dir  string // stdio: where the processes write
	mu   sync.Mutex
	msgs [][]byte // HTTP: the bodies of POSTs
}

func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			b, err := io.ReadAll(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, b)
			r.mu.Unlock()
			req.Body = io.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, req)
	})
}

// received returns every message the upstream read so far.
func (r *recorder) received(t testing.TB) [][]byte {
	t.Helper()
	if r.dir == "" {
		r.mu.Lock()
		defer r.mu.Unlock()
		return append([][]byte(nil), r.msgs...)
	}
	files, err := filepath.Glob(filepath.Join(r.dir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				out = append(out, append([]byte(nil), line...))
			}
		}
	}
	return out
}

// calls returns the params of the requests of method the upstream
// received, naming name when name is not empty.
func (r *recorder) calls(t testing.TB, method, name string) []string {
	t.Helper()
	var out []string
	for _, b := range r.received(t) {
		var m struct {
			Method string
			Params json.RawMessage
		}
		if json.Unmarshal(b, &m) != nil || m.Method != method {
			continue
		}
		var p struct{ Name string }
		_ = json.Unmarshal(m.Params, &p)
		if name == "" || p.Name == name {
			out = append(out, string(m.Params))
		}
	}
	return out
}

// newHTTPUpstream starts the matrix upstream over Streamable HTTP: with
// sessions for a legacy upstream, stateless for a 2026-07-28 one.
func newHTTPUpstream(t testing.TB, legacy bool) (string, *recorder) {
	t.Helper()
	srv := newServer()
	rec := &recorder{}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: !legacy, EventStore: mcp.NewMemoryEventStore(nil)})
	ts := httptest.NewServer(rec.wrap(h))
	t.Cleanup(ts.Close)
	return ts.URL, rec
}
