//go:build unix

package policybench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

// newAudit starts an audit log on a fresh SQLite store; flush waits until
// everything queued is written.
func newAudit(b *testing.B) (gateway.Middleware, func()) {
	l, flush := newAuditLog(b)
	return l.Wrap, flush
}

// newAuditLog is newAudit, returning the log itself.
func newAuditLog(b *testing.B) (*audit.Log, func()) {
	ctx := context.Background()
	// As deployed by default: a keyed chain, and signed heads in a file.
	key := bytes.Repeat([]byte{7}, 32)
	s, err := audit.NewStore(storagetest.Open(b, "sqlite:"+filepath.Join(b.TempDir(), "mcpfort.db")), audit.StoreOptions{Key: key})
	if err != nil {
		b.Fatal(err)
	}
	heads, err := audit.OpenHeads(audit.HeadsOptions{Key: key, File: filepath.Join(b.TempDir(), "audit-heads.jsonl")})
	if err != nil {
		b.Fatal(err)
	}
	// A queue deeper than any b.N: the benchmark measures the request
	// path, not back-pressure from a writer that a loop of in-process calls
	// outruns (real traffic does not come a million calls a second).
	l, err := audit.New(audit.Options{Sink: s, Heads: heads, QueueSize: 1 << 21})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := l.Close(ctx); err != nil {
			b.Error(err)
		}
		rep, err := audit.Verify(ctx, s, audit.VerifyOptions{Key: key})
		if err != nil || !rep.OK() {
			b.Errorf("audit chain after the benchmark: %+v %v", rep, err)
		}
		heads.Close()
	})
	return l, func() {
		if err := l.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// processCPU is the CPU time of the whole process (every goroutine: the
// audit writer and SQLite included), user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runCallCPU is runCall, reporting as well the process CPU per call
// (cpu-ns/op), the writer's work included: flush, if set, runs before the
// clock stops.
func runCallCPU(b *testing.B, h gateway.Handler, c *gateway.Call, flush func()) {
	b.Helper()
	ctx := context.Background()
	drain(ctx, mustReply(b, h, ctx, c))
	if flush != nil {
		flush()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		r, err := h(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		drain(ctx, r)
	}
	if flush != nil {
		flush()
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkAudit measures the audit log on the typical tools/call: the
// request path (ns/op) and the whole process CPU with the writer's batched
// SQLite appends (cpu-ns/op), next to the baseline without policies.
func BenchmarkAudit(b *testing.B) {
	list := toolsList(20)
	b.Run("baseline", func(b *testing.B) {
		runCallCPU(b, terminal(list), newCall(b, mcp.MethodToolsCall, callParams), nil)
	})
	b.Run("audit-sqlite", func(b *testing.B) {
		mw, flush := newAudit(b)
		runCallCPU(b, chain(terminal(list), mw), newCall(b, mcp.MethodToolsCall, callParams), flush)
	})
	// A legacy session's call answered on a stream, as a go-sdk client's
	// is: without an event id, and with one, whose answer record then
	// carries an answer key (hashed, and looked up by the writer's
	// transaction) so that a replica resuming the stream does not record
	// it twice.
	for _, keyed := range []bool{false, true} {
		name := "audit-sqlite-session"
		if keyed {
			name += "-answer-key"
		}
		b.Run(name, func(b *testing.B) {
			mw, flush := newAudit(b)
			runCallCPU(b, chain(streamTerminal(list, keyed), mw), sessionCall(b), flush)
		})
	}
	// The design not taken: a "started" record durably written before the
	// call goes upstream (write-ahead), then the answer's record. Each call
	// waits for two appends instead of one.
	b.Run("audit-sqlite-write-ahead", func(b *testing.B) {
		l, flush := newAuditLog(b)
		started := func(next gateway.Handler) gateway.Handler {
			return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
				if err := l.Add(audit.Record{Server: c.Route, Method: c.Msg.Method, Tool: c.Params.Name, RPCID: c.Msg.ID.Raw(),
					Decision: audit.Allow, Status: "started"}); err != nil {
					return nil, err
				}
				flush()
				return next(ctx, c)
			}
		}
		runCallCPU(b, chain(terminal(list), started, l.Wrap), newCall(b, mcp.MethodToolsCall, callParams), flush)
	})
}

// BenchmarkAuditConcurrent is BenchmarkAudit's typical tools/call from 32
// callers at once, as a gateway under load serves them: every response
// waits for its record, and the records of concurrent calls share
// transactions. cpu-ns/op is the process CPU per call, the writer's
// SQLite transactions included; records/tx is how many records a
// transaction carried on average.
func BenchmarkAuditConcurrent(b *testing.B) {
	list := toolsList(20)
	b.Run("baseline", func(b *testing.B) { runParallelCPU(b, terminal(list), nil, nil) })
	b.Run("audit-sqlite", func(b *testing.B) {
		l, flush := newAuditLog(b)
		runParallelCPU(b, chain(terminal(list), l.Wrap), l, flush)
	})
}

// runParallelCPU runs h from 32 goroutines (16 per P on two CPUs, as many
// as the benchmark's load generator's clients).
func runParallelCPU(b *testing.B, h gateway.Handler, l *audit.Log, flush func()) {
	b.Helper()
	ctx := context.Background()
	drain(ctx, mustReply(b, h, ctx, newCall(b, mcp.MethodToolsCall, callParams)))
	if flush != nil {
		flush()
	}
	var s0 audit.Stats
	if l != nil {
		s0 = l.Stats()
	}
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		c := newCall(b, mcp.MethodToolsCall, callParams)
		for pb.Next() {
			r, err := h(ctx, c)
			if err != nil {
				b.Error(err)
				return
			}
			drain(ctx, r)
		}
	})
	if flush != nil {
		flush()
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	if l != nil {
		s := l.Stats()
		if n := s.Batches - s0.Batches; n > 0 {
			b.ReportMetric(float64(s.Written-s0.Written)/float64(n), "records/tx")
		}
	}
}

// streamTerminal answers tools/call on a stream, each answer's event with
// a new id when withIDs is set.
func streamTerminal(list []byte, withIDs bool) gateway.Handler {
	result := []byte(`{"content":[{"type":"text","text":"3 results"}]}`)
	var n atomic.Int64
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Msg.Method == mcp.MethodToolsList {
			return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, list)), nil
		}
		ev := &upstream.Event{Data: jsonrpc.AppendResult(nil, c.Msg.ID, result)}
		if withIDs {
			ev.ID = "stream-1_" + strconv.FormatInt(n.Add(1), 10)
		}
		return &upstream.StaticReply{I: upstream.Info{Status: http.StatusOK, Stream: true}, Events: []*upstream.Event{ev}}, nil
	}
}

// sessionCall is newCall's tools/call in a 2025-11-25 session.
func sessionCall(b *testing.B) *gateway.Call {
	c := newCall(b, mcp.MethodToolsCall, callParams)
	c.Era, c.Version = mcp.EraLegacy, "2025-11-25"
	c.Session = &session.State{ID: [16]byte{1, 2, 3}, Route: c.Route, Version: c.Version}
	return c
}

// allPolicies is the whole chain in the order proposed for app: audit
// outermost (it sees every refusal), rate limit, tool filter, pinning,
// schema, and PII innermost (arguments are validated as the client sent
// them, then masked; results are masked before anything else reads them).
func allPolicies(b *testing.B) ([]gateway.Middleware, func()) {
	store, _ := ratelimit.NewLocal(ratelimit.LocalOptions{})
	auditMW, flush := newAudit(b)
	return []gateway.Middleware{auditMW, newLimiter(b, store), newFilter(b), newPinning(b), newValidator(b), newPII(b)}, flush
}

// BenchmarkAllPolicies measures the six policies together on the typical
// tools/call.
func BenchmarkAllPolicies(b *testing.B) {
	list := toolsList(20)
	b.Run("chain", func(b *testing.B) {
		mws, flush := allPolicies(b)
		runCallCPU(b, chain(terminal(list), mws...), newCall(b, mcp.MethodToolsCall, callParams), flush)
	})
	b.Run("chain-without-audit", func(b *testing.B) {
		mws, _ := allPolicies(b)
		runCallCPU(b, chain(terminal(list), mws[1:]...), newCall(b, mcp.MethodToolsCall, callParams), nil)
	})
	b.Run("gateway-passthrough", func(b *testing.B) { gatewayCPU(b, nil, nil) })
	b.Run("gateway-all-policies", func(b *testing.B) {
		mws, flush := allPolicies(b)
		gatewayCPU(b, mws, flush)
	})
}

// gatewayCPU serves the typical 2026-07-28 tools/call through a whole
// gateway, as BenchmarkGateway does, reporting process CPU per call.
func gatewayCPU(b *testing.B, mws []gateway.Middleware, flush func()) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	body := `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":` + callParams + `}`
	g, err := gateway.New(gateway.Options{Route: "github", Upstream: fixedUpstream{list: toolsList(20)}, Keyring: kr, UpstreamEra: gateway.EraModern, Middleware: mws,
		Principal: func(ctx context.Context) *gateway.Principal { return principal }})
	if err != nil {
		b.Fatal(err)
	}
	serve := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://127.0.0.1/github/mcp", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		r.Header.Set("Mcp-Method", "tools/call")
		r.Header.Set("Mcp-Name", "search")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	if w := serve(); w.Code != 200 || !strings.Contains(w.Body.String(), "3 results") {
		b.Fatalf("%d %s", w.Code, w.Body)
	}
	if flush != nil {
		flush()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		serve()
	}
	if flush != nil {
		flush()
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}
