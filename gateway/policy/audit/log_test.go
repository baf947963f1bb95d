package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/mcpfort/mcpfort/gateway/session"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/auditnote"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/internal/everything"
	"github.com/mcpfort/mcpfort/jsonrpc"
	storagebackend "github.com/mcpfort/mcpfort/storage/backend"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

type textArgs struct {
	Text string `json:"text"`
}

func newUpstream(t *testing.T, stateless bool) string {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "audit-upstream", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echoes"}, func(ctx context.Context, req *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "fails", Description: "always fails"}, func(ctx context.Context, req *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "admin_delete", Description: "dangerous"}, func(ctx context.Context, req *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// refuseAdmin stands in for the policies inside the audit log: it refuses
// one tool and notes what it did on the others.
func refuseAdmin(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Params.Name == "admin_delete" {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: tool \"admin_delete\" is not available"}
		}
		if c.Params.Name == "echo" {
			auditnote.Add(ctx, "test", "looked at echo")
		}
		return next(ctx, c)
	}
}

// logWatch is a slog handler that reports chosen messages on a channel,
// so tests wait for the log's own account of an event instead of sleeping.
type logWatch struct {
	slog.Handler
	ch chan string
}

func newLogWatch() *logWatch {
	return &logWatch{Handler: slog.NewTextHandler(discard{}, nil), ch: make(chan string, 64)}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (w *logWatch) Handle(ctx context.Context, r slog.Record) error {
	select {
	case w.ch <- r.Message:
	default:
	}
	return nil
}

func (w *logWatch) wait(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-w.ch:
			if m == msg {
				return
			}
		case <-timeout:
			t.Fatalf("no log %q", msg)
		}
	}
}

func records(t *testing.T, s *audit.Store) []audit.Record {
	t.Helper()
	var out []audit.Record
	if err := s.Records(context.Background(), audit.Filter{}, func(r *audit.Record) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func hashOf(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestThroughGateway(t *testing.T) {
	for _, era := range policytest.Eras {
		t.Run(era.Name, func(t *testing.T) {
			ctx := context.Background()
			store := open(t, storagetest.SQLite(t), nil)
			l, err := audit.New(audit.Options{Sink: store, RecordArguments: true, RecordResults: true,
				Mask:      func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("hunter2"), []byte("*******")) },
				RequestID: func(context.Context) string { return "edge-1" }})
			if err != nil {
				t.Fatal(err)
			}
			gw := policytest.NewGateway(t, newUpstream(t, era.Stateless), policytest.Options{Middleware: []gateway.Middleware{l.Wrap, refuseAdmin}})
			cs := policytest.Connect(t, gw.URL, era, policytest.Client(policytest.Identity("alice", "cli-1", "mcp:tools"), nil))

			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "password hunter2"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "fails", Arguments: map[string]any{"text": "x"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin_delete", Arguments: map[string]any{"text": "x"}}); err == nil {
				t.Fatal("admin_delete was not refused")
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			var calls []audit.Record
			for _, r := range records(t, store) {
				if r.Method == "tools/call" {
					calls = append(calls, r)
				}
			}
			want := []audit.Record{
				{Decision: "allow", Status: "ok", Tool: "echo", ArgsHash: hashOf(`{"text":"password hunter2"}`), Reason: "test: looked at echo",
					Arguments: `{"text":"password *******"}`},
				{Decision: "allow", Status: "tool_error", Tool: "fails", ArgsHash: hashOf(`{"text":"x"}`), Arguments: `{"text":"x"}`},
				{Decision: "deny", Status: "refused", Tool: "admin_delete", ArgsHash: hashOf(`{"text":"x"}`), Reason: `Forbidden: tool "admin_delete" is not available`,
					ErrorCode: jsonrpc.CodeForbidden, Arguments: `{"text":"x"}`},
			}
			got := make([]audit.Record, len(calls))
			for i, r := range calls {
				if r.Server != "everything" || r.Subject != "alice" || r.Client != "cli-1" || r.Issuer != "https://issuer.test" ||
					r.RequestID != "edge-1" || r.RPCID == "" || r.LatencyMicros < 0 || r.Time.IsZero() {
					t.Errorf("record %d: %+v", i, r)
				}
				got[i] = audit.Record{Decision: r.Decision, Status: r.Status, Tool: r.Tool, ArgsHash: r.ArgsHash, Reason: r.Reason, ErrorCode: r.ErrorCode, Arguments: r.Arguments}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if !strings.Contains(calls[0].Result, "password *******") || strings.Contains(calls[0].Result, "hunter2") {
				t.Errorf("recorded result %q", calls[0].Result)
			}
			if rep := verify(t, store, nil); !rep.OK() {
				t.Fatalf("chain: %v", kinds(rep))
			}
		})
	}
}

func TestMaskRequired(t *testing.T) {
	s := open(t, storagetest.SQLite(t), nil)
	if _, err := audit.New(audit.Options{Sink: s, RecordArguments: true}); err == nil {
		t.Fatal("recording arguments without a mask was accepted")
	}
	if _, err := audit.New(audit.Options{}); err == nil {
		t.Fatal("a log without a sink was accepted")
	}
}

// failInserts makes the database refuse new records, the way a full disk
// or a revoked grant would.
func failInserts(t *testing.T, database string) func() {
	t.Helper()
	db := storagetest.Raw(t, database)
	storagetest.Exec(t, db, `CREATE TRIGGER audit_fail BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`)
	restore := func() { storagetest.Exec(t, db, `DROP TRIGGER IF EXISTS audit_fail`) }
	t.Cleanup(restore)
	return restore
}

// TestFailClosed breaks the database under the log: the call in flight is
// kept and retried, new calls are refused with 503 until writes recover,
// and nothing is lost.
func TestFailClosed(t *testing.T) {
	for _, era := range []policytest.Era{policytest.Eras[0], policytest.Eras[1]} {
		t.Run(era.Name, func(t *testing.T) { testFailClosed(t, era) })
	}
}

func testFailClosed(t *testing.T, era policytest.Era) {
	ctx := context.Background()
	database := storagetest.SQLite(t)
	store := open(t, database, nil)
	watch := newLogWatch()
	// The response of the call in flight when the database fails waits
	// for its record at most WriteWait.
	l, err := audit.New(audit.Options{Sink: store, Logger: slog.New(watch), WriteWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded, so that a failed test cannot hang on a broken database.
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(c)
	})
	gw := policytest.NewGateway(t, newUpstream(t, era.Stateless), policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
	cs := policytest.Connect(t, gw.URL, era, nil)
	call := func() error {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	// The first record is written before the database starts failing (its
	// answer waited for it; Flush makes sure either way).
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	restore := failInserts(t, database)
	if err := call(); err != nil {
		t.Fatalf("the call admitted before the failure was known: %v", err)
	}
	watch.wait(t, "audit: write failed; retrying")
	err = call()
	// The go-sdk client reports the 503 rather than the JSON-RPC error.
	if err == nil || !strings.Contains(err.Error(), "audit log cannot record") && !strings.Contains(err.Error(), "Service Unavailable") {
		t.Fatalf("call while the log fails: %v", err)
	}
	resp := rawCall(t, gw.URL)
	if resp != http.StatusServiceUnavailable {
		t.Fatalf("HTTP status while the log fails: %d", resp)
	}
	restore()
	watch.wait(t, "audit: writes recovered")
	if err := call(); err != nil {
		t.Fatalf("call after recovery: %v", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Refused != 2 || st.WriteErrors == 0 || st.Unrecorded != 0 {
		t.Fatalf("stats %+v", st)
	}
	var n int
	for _, r := range records(t, store) {
		if r.Method == "tools/call" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d tools/call records, want 3 (two before, one after the failure)", n)
	}
	if rep := verify(t, store, nil); !rep.OK() {
		t.Fatalf("chain: %v", kinds(rep))
	}
}

// modernCall is a 2026-07-28 tools/call of echo with the given arguments.
func modernCall(ctx context.Context, url, args string) *http.Request {
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":` + args + `,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "echo")
	return req
}

// answerOf sends req and delivers the answer's body, read whole, or the
// error's text.
func answerOf(req *http.Request) <-chan string {
	got := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	return got
}

// rawCall posts a 2026-07-28 tools/call and returns the HTTP status.
func rawCall(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(modernCall(context.Background(), url, `{"text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAllowUnrecorded lets calls through while the database fails, and
// counts those the bounded queue could not hold.
func TestAllowUnrecorded(t *testing.T) {
	ctx := context.Background()
	database := storagetest.SQLite(t)
	store := open(t, database, nil)
	watch := newLogWatch()
	l, err := audit.New(audit.Options{Sink: store, AllowUnrecorded: true, QueueSize: 2, Logger: slog.New(watch)})
	if err != nil {
		t.Fatal(err)
	}
	gw := policytest.NewGateway(t, newUpstream(t, true), policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
	cs := policytest.Connect(t, gw.URL, policytest.Eras[1], nil)
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	before := l.Stats().Written // what connecting took
	restore := failInserts(t, database)
	for range 5 {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
			t.Fatalf("call refused although AllowUnrecorded: %v", err)
		}
	}
	watch.wait(t, "audit: write failed; retrying")
	if st := l.Stats(); st.Unrecorded < 3 || st.Pending != 2 {
		t.Fatalf("stats %+v", st)
	}
	restore()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Written != before+2 || st.Pending != 0 {
		t.Fatalf("stats after close %+v", st)
	}
}

// TestSurvivesRestart closes the log and the store and opens them again:
// the chain continues where it stopped.
func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	database := storagetest.SQLite(t)
	up := newUpstream(t, true)
	for round := range 2 {
		db, err := storagebackend.Open(ctx, database, "")
		if err != nil {
			t.Fatal(err)
		}
		store, err := audit.NewStore(db, audit.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l, err := audit.New(audit.Options{Sink: store})
		if err != nil {
			t.Fatal(err)
		}
		gw := policytest.NewGateway(t, up, policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
		cs := policytest.Connect(t, gw.URL, policytest.Eras[1], nil)
		for range 3 {
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		rep, err := audit.Verify(ctx, store, audit.VerifyOptions{})
		if err != nil || !rep.OK() || rep.Records < int64(3*(round+1)) {
			t.Fatalf("round %d: %+v %v", round, rep, err)
		}
		db.Close()
	}
}

// TestCloseDeadline gives Close a deadline the failing database cannot
// meet: Close reports the records it could not write instead of hanging.
func TestCloseDeadline(t *testing.T) {
	database := storagetest.SQLite(t)
	store := open(t, database, nil)
	watch := newLogWatch()
	l, err := audit.New(audit.Options{Sink: store, Logger: slog.New(watch)})
	if err != nil {
		t.Fatal(err)
	}
	failInserts(t, database)
	if err := l.Add(audit.Record{Server: "s", Method: "edge/refusal", Decision: audit.Deny, Status: audit.StatusRefused}); err != nil {
		t.Fatal(err)
	}
	watch.wait(t, "audit: write failed; retrying")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = l.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 records not written") {
		t.Fatalf("Close = %v", err)
	}
}

// gatedSink holds every Append until the gate opens.
type gatedSink struct {
	audit.Sink
	gate chan struct{}
}

func (g *gatedSink) Append(ctx context.Context, recs []audit.Record) error {
	<-g.gate
	return g.Sink.Append(ctx, recs)
}

// TestReplyWaitsForTheRecord: a call's response reaches the client only
// once its record is written, so that a replica killed at any moment has
// recorded every call a client saw answered; with ReplyBeforeWrite it
// goes out at once.
func TestReplyWaitsForTheRecord(t *testing.T) {
	for _, before := range []bool{false, true} {
		t.Run(fmt.Sprint("ReplyBeforeWrite=", before), func(t *testing.T) {
			ctx := context.Background()
			store := open(t, storagetest.SQLite(t), nil)
			sink := &gatedSink{Sink: store, gate: make(chan struct{})}
			l, err := audit.New(audit.Options{Sink: sink, ReplyBeforeWrite: before})
			if err != nil {
				t.Fatal(err)
			}
			gw := policytest.NewGateway(t, newUpstream(t, true), policytest.Options{Middleware: []gateway.Middleware{l.Wrap}})
			done := make(chan int, 1)
			go func() { done <- rawCallAnswered(gw.URL) }()
			select {
			case st := <-done:
				if !before {
					t.Fatalf("the response (%d) came before its record was written", st)
				}
			case <-time.After(500 * time.Millisecond):
				if before {
					t.Fatal("the response waited for its record")
				}
			}
			close(sink.gate)
			if !before {
				if st := <-done; st != http.StatusOK {
					t.Fatalf("status %d", st)
				}
				// Written before the response: no flush needed to see it.
				if rs := records(t, store); len(rs) != 1 || rs[0].Method != "tools/call" || rs[0].Status != "ok" {
					t.Fatalf("records when the response arrived: %+v", rs)
				}
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// rawCallAnswered posts a 2026-07-28 tools/call and returns once the
// answer is read whole (the status line may come before the response),
// with the HTTP status, or 0 when there was no result.
func rawCallAnswered(url string) int {
	resp, err := http.DefaultClient.Do(modernCall(context.Background(), url, `{"text":"x"}`))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(b), `"result"`) {
		return 0
	}
	return resp.StatusCode
}

// blockingReply answers nothing until its context ends or it is closed
// (as often as the gateway likes).
type blockingReply struct {
	once   *sync.Once
	closed chan struct{}
}

func (blockingReply) Info() upstream.Info { return upstream.Info{Status: http.StatusOK, Stream: true} }
func (r blockingReply) Next(ctx context.Context) (*upstream.Event, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.closed:
		return nil, context.Canceled
	}
}
func (r blockingReply) Close() error { r.once.Do(func() { close(r.closed) }); return nil }

// slowUpstream lists one tool and never answers a call; started is
// signalled when a call arrives.
type slowUpstream struct{ started chan struct{} }

func (u slowUpstream) Post(_ context.Context, req *upstream.Request) (upstream.Reply, error) {
	m, err := req.Message()
	if err != nil {
		return nil, err
	}
	if m.Method == "tools/list" {
		return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`))), nil
	}
	u.started <- struct{}{}
	return blockingReply{once: new(sync.Once), closed: make(chan struct{})}, nil
}
func (slowUpstream) Get(context.Context, *upstream.Request) (upstream.Reply, error) {
	return nil, upstream.ErrNotSupported
}
func (slowUpstream) Delete(context.Context, *upstream.Request) error { return nil }
func (slowUpstream) Close(context.Context) error                     { return nil }

// TestStreamEndedAtShutdown: a call whose stream the gateway ended at
// shutdown (Drain) is recorded as incomplete, since the call goes on
// upstream and a legacy client resumes the stream at another replica; one
// whose client went away is recorded as cancelled.
func TestStreamEndedAtShutdown(t *testing.T) {
	for _, drain := range []bool{true, false} {
		ctx := context.Background()
		store := open(t, storagetest.SQLite(t), nil)
		l, err := audit.New(audit.Options{Sink: store})
		if err != nil {
			t.Fatal(err)
		}
		up := slowUpstream{started: make(chan struct{}, 1)}
		kr, _ := session.NewKeyring(session.GenerateSecret())
		g, err := gateway.New(gateway.Options{Route: "r", Upstream: up, Keyring: kr, UpstreamEra: gateway.EraModern,
			Middleware: []gateway.Middleware{l.Wrap}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(g)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := http.DefaultClient.Do(modernCall(cctx, srv.URL, `{}`)); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		<-up.started
		time.Sleep(50 * time.Millisecond) // the stream has begun
		if drain {
			g.Drain()
		} else {
			cancel()
		}
		<-done
		cancel()
		srv.Close()
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		want := audit.StatusCancelled
		if drain {
			want = audit.StatusIncomplete
		}
		var got []string
		for _, r := range records(t, store) {
			if r.Method == "tools/call" {
				got = append(got, r.Status)
			}
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("drain %v: tools/call records %v, want one %s", drain, got, want)
		}
	}
}

// finalReply holds the final response to a call until the gateway closes
// the reply, and then returns it: the upstream's answer was already read
// when shutdown ended the stream. answered is signalled once it has the
// answer in hand.
type finalReply struct {
	id       jsonrpc.ID
	answered chan struct{}
	closed   chan struct{}
	once     *sync.Once
	sent     bool
}

func (*finalReply) Info() upstream.Info { return upstream.Info{Status: http.StatusOK, Stream: true} }
func (r *finalReply) Next(ctx context.Context) (*upstream.Event, error) {
	if r.sent {
		return nil, io.EOF
	}
	r.sent = true
	r.answered <- struct{}{}
	<-r.closed
	return &upstream.Event{Data: jsonrpc.AppendResult(nil, r.id, []byte(`{"content":[{"type":"text","text":"done"}]}`))}, nil
}
func (r *finalReply) Close() error { r.once.Do(func() { close(r.closed) }); return nil }

// finalUpstream answers every call with a finalReply.
type finalUpstream struct{ answered chan struct{} }

func (u finalUpstream) Post(_ context.Context, req *upstream.Request) (upstream.Reply, error) {
	m, err := req.Message()
	if err != nil {
		return nil, err
	}
	if m.Method == "tools/list" {
		return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`))), nil
	}
	return &finalReply{id: m.ID, answered: u.answered, closed: make(chan struct{}), once: new(sync.Once)}, nil
}
func (finalUpstream) Get(context.Context, *upstream.Request) (upstream.Reply, error) {
	return nil, upstream.ErrNotSupported
}
func (finalUpstream) Delete(context.Context, *upstream.Request) error { return nil }
func (finalUpstream) Close(context.Context) error                     { return nil }

// TestShutdownDuringFinalEvent: shutdown (Drain) ends a call's stream
// while the upstream's reply is returning the final response. The
// response still reaches the client, so the record must say ok, not
// incomplete: the record follows what the reply delivered, not the
// moment the stream was closed.
func TestShutdownDuringFinalEvent(t *testing.T) {
	ctx := context.Background()
	store := open(t, storagetest.SQLite(t), nil)
	l, err := audit.New(audit.Options{Sink: store})
	if err != nil {
		t.Fatal(err)
	}
	up := finalUpstream{answered: make(chan struct{}, 1)}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: up, Keyring: kr, UpstreamEra: gateway.EraModern,
		Middleware: []gateway.Middleware{l.Wrap}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	got := answerOf(modernCall(context.Background(), srv.URL, `{}`))
	<-up.answered
	g.Drain() // ends the stream while the reply returns the answer
	body := <-got
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, r := range records(t, store) {
		if r.Method == "tools/call" {
			statuses = append(statuses, r.Status)
		}
	}
	if !strings.Contains(body, `"text":"done"`) {
		t.Fatalf("the client did not get the answer: %q (records %v)", body, statuses)
	}
	if len(statuses) != 1 || statuses[0] != audit.StatusOK {
		t.Fatalf("the client got the answer; tools/call records %v, want one ok", statuses)
	}
}

// cutAnswers stands for a replica whose connection to the client breaks
// just as it relays a call's answer (it is killed, say): writing an
// answer to a tools/call aborts the connection, so the client resumes
// the call's stream (GET, Last-Event-ID) elsewhere.
type cutAnswers struct {
	http.ResponseWriter
}

func (w cutAnswers) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"result"`)) && bytes.Contains(p, []byte(`"content"`)) {
		panic(http.ErrAbortHandler)
	}
	return w.ResponseWriter.Write(p)
}
func (w cutAnswers) Flush()                      { w.ResponseWriter.(http.Flusher).Flush() }
func (w cutAnswers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestAnswerOnResumedStream: a go-sdk client's call reaches replica A,
// whose connection breaks as it relays the answer; the client resumes
// the stream at replica B, which relays the answer from the upstream's
// event store. The answer the client saw is in the log exactly once:
// recorded by B when A had not recorded it (A died first: here, A has no
// audit log at all), left out by B when A had (same answer key).
func TestAnswerOnResumedStream(t *testing.T) {
	for _, aRecords := range []bool{false, true} {
		t.Run(fmt.Sprint("A records=", aRecords), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h, err := everything.NewHandler(mustEverything(t), everything.HandlerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			up := httptest.NewServer(h)
			defer up.Close()
			database := storagetest.SQLite(t)
			secret := session.GenerateSecret()
			var logs []*audit.Log
			var replicas []*gateway.Gateway
			for i := range 2 {
				rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
				if err != nil {
					t.Fatal(err)
				}
				kr, _ := session.NewKeyring(secret)
				opts := gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy,
					RetryHint: 10 * time.Millisecond, ReplicaID: []string{"a", "b"}[i]}
				if i == 1 || aRecords {
					l, err := audit.New(audit.Options{Sink: open(t, database, nil)})
					if err != nil {
						t.Fatal(err)
					}
					logs = append(logs, l)
					opts.Middleware = []gateway.Middleware{l.Wrap}
				}
				g, err := gateway.New(opts)
				if err != nil {
					t.Fatal(err)
				}
				replicas = append(replicas, g)
			}
			var resumedAtB atomic.Int32
			lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					if r.Header.Get("Last-Event-Id") != "" {
						resumedAtB.Add(1)
					}
					replicas[1].ServeHTTP(w, r)
					return
				}
				replicas[0].ServeHTTP(cutAnswers{w}, r)
			}))
			defer lb.Close()
			c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: lb.URL}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "resumed-answer"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Content) == 0 || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "resumed-answer") {
				t.Fatalf("result = %+v", res.Content)
			}
			if resumedAtB.Load() == 0 {
				t.Fatal("the client did not resume the stream at B")
			}
			cs.Close()
			for _, l := range logs {
				if err := l.Close(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var answers []audit.Record
			for _, r := range records(t, open(t, database, nil)) {
				if r.Status == audit.StatusOK && r.Method != "initialize" && r.Method != "tools/list" {
					answers = append(answers, r)
				}
			}
			if len(answers) != 1 || answers[0].AnswerKey == "" {
				t.Fatalf("answers recorded: %+v, want one, with its key", answers)
			}
			got := answers[0]
			switch {
			case aRecords && (got.Method != "tools/call" || got.Tool != "echo" || got.ArgsHash == ""):
				t.Fatalf("A recorded the call; the record kept is %+v, want A's", got)
			case !aRecords && (got.Method != "" || got.Server != "r" || got.RPCID == "" || !strings.Contains(got.Reason, "resumed")):
				t.Fatalf("the record B wrote: %+v", got)
			}
			b := logs[len(logs)-1].Stats()
			if want := int64(0); aRecords {
				want = 1
				if b.Repeated != want {
					t.Fatalf("B left out %d repeated answers, want %d", b.Repeated, want)
				}
			} else if b.Repeated != want {
				t.Fatalf("B left out %d repeated answers, want %d", b.Repeated, want)
			}
			if rep := verify(t, open(t, database, nil), nil); !rep.OK() {
				t.Fatalf("chain: %v", kinds(rep))
			}
		})
	}
}

func mustEverything(t *testing.T) *mcp.Server {
	t.Helper()
	srv, err := everything.New(everything.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// twoEvents is a reply holding a notification and then the response,
// whatever happens to it.
type twoEvents struct {
	id jsonrpc.ID
	n  int
}

func (*twoEvents) Info() upstream.Info { return upstream.Info{Status: http.StatusOK, Stream: true} }
func (r *twoEvents) Next(context.Context) (*upstream.Event, error) {
	r.n++
	switch r.n {
	case 1:
		return &upstream.Event{Data: []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}`)}, nil
	case 2:
		return &upstream.Event{Data: jsonrpc.AppendResult(nil, r.id, []byte(`{"content":[{"type":"text","text":"done"}]}`))}, nil
	}
	return nil, io.EOF
}
func (*twoEvents) Close() error { return nil }

type twoEventsUpstream struct{ finalUpstream }

func (u twoEventsUpstream) Post(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	m, err := req.Message()
	if err != nil {
		return nil, err
	}
	if m.Method == "tools/list" {
		return u.finalUpstream.Post(ctx, req)
	}
	return &twoEvents{id: m.ID}, nil
}

// holdWrites holds the write of the first event carrying "working" until
// release is closed, signalling held when it starts.
type holdWrites struct {
	http.ResponseWriter
	held, release chan struct{}
	once          *sync.Once
}

func (w holdWrites) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("working")) {
		w.once.Do(func() {
			close(w.held)
			<-w.release
		})
	}
	return w.ResponseWriter.Write(p)
}
func (w holdWrites) Flush()                      { w.ResponseWriter.(http.Flusher).Flush() }
func (w holdWrites) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestShutdownBetweenReads: shutdown (Drain) ends a call's stream while
// the relay writes an earlier event; the relay then reads once more and
// the reply still holds the response. The client gets it, and the record
// says ok.
func TestShutdownBetweenReads(t *testing.T) {
	ctx := context.Background()
	store := open(t, storagetest.SQLite(t), nil)
	l, err := audit.New(audit.Options{Sink: store})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: twoEventsUpstream{}, Keyring: kr, UpstreamEra: gateway.EraModern,
		Middleware: []gateway.Middleware{l.Wrap}})
	if err != nil {
		t.Fatal(err)
	}
	hw := holdWrites{held: make(chan struct{}), release: make(chan struct{}), once: new(sync.Once)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := hw
		hw.ResponseWriter = w
		g.ServeHTTP(hw, r)
	}))
	defer srv.Close()
	got := answerOf(modernCall(context.Background(), srv.URL, `{}`))
	<-hw.held
	g.Drain() // closes the reply while the relay writes the notification
	close(hw.release)
	body := <-got
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, r := range records(t, store) {
		if r.Method == "tools/call" {
			statuses = append(statuses, r.Status)
		}
	}
	if !strings.Contains(body, `"text":"done"`) {
		t.Fatalf("the client did not get the answer: %q (records %v)", body, statuses)
	}
	if len(statuses) != 1 || statuses[0] != audit.StatusOK {
		t.Fatalf("the client got the answer; tools/call records %v, want one ok", statuses)
	}
}
