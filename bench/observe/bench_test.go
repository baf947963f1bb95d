// Package observebench measures what telemetry costs per proxied
// tools/call: the gateway in front of an HTTP upstream over loopback, with
// no telemetry, with metrics only, and with metrics and tracing at sample
// ratios 0.01 and 1 (spans exported over OTLP/HTTP to a receiver in the
// same process). See README.md for results and the command.
package observebench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/observe"
)

const result = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`

var benchCall = []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)

// pass is a policy that lets every call through: the chain below has the
// default route's number of policies, so the per-policy spans and counters
// are paid as in production, and nothing else is measured.
func pass(next gateway.Handler) gateway.Handler { return next }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTelemetry reports ns/op and cpu-us/op (process CPU: client,
// gateway, upstream and, when tracing, the OTLP receiver) for one
// sequential client.
func BenchmarkTelemetry(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, result)
	}))
	defer up.Close()
	for _, tc := range variants(b) {
		b.Run(tc.name, func(b *testing.B) {
			kr, _ := session.NewKeyring(session.GenerateSecret())
			rem, err := remote.New(remote.Options{URL: up.URL})
			if err != nil {
				b.Fatal(err)
			}
			var u upstream.Upstream = rem
			chain := []gateway.Middleware{pass, pass, pass, pass, pass}
			var h http.Handler
			var tel *observe.Telemetry
			if tc.tel {
				o := tc.opts
				o.Getenv = func(string) string { return "" }
				if tc.ratio > 0 {
					o.SampleRatio = &tc.ratio
				}
				tel, err = observe.New(context.Background(), o)
				if err != nil {
					b.Fatal(err)
				}
				defer tel.Shutdown(context.Background())
				u = tel.Upstream(rem, observe.UpstreamOptions{Route: "r", Address: "127.0.0.1", Port: 80})
				wrapped := []gateway.Middleware{tel.Middleware("r")}
				for _, name := range []string{"audit", "scopes", "rate_limit", "schema", "pii"} {
					wrapped = append(wrapped, tel.Policy(name, pass))
				}
				chain = wrapped
			}
			g, err := gateway.New(gateway.Options{Route: "r", Upstream: u, Keyring: kr, UpstreamEra: gateway.EraLegacy, Middleware: chain})
			if err != nil {
				b.Fatal(err)
			}
			h = g
			if tel != nil {
				h = tel.HTTP(g, observe.HTTPOptions{})
			}
			gw := httptest.NewServer(h)
			defer gw.Close()
			now := time.Now()
			sid, _ := kr.Seal(&session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "s", Created: now, Expires: now.Add(time.Hour)})
			client := &http.Client{Transport: &http.Transport{}}
			do := func() {
				req, _ := http.NewRequest("POST", gw.URL, bytes.NewReader(benchCall))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Session-Id", sid)
				req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			do()
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				do()
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N)/1000, "cpu-us/op")
		})
	}
}

// static answers every POST with the fixed result, in memory: what is
// left to measure is the gateway's own work.
type static struct{ upstream.Upstream }

func (static) Post(context.Context, *upstream.Request) (upstream.Reply, error) {
	return upstream.Message([]byte(result)), nil
}

// BenchmarkTelemetryHandler measures the gateway's handler alone (no
// sockets; the upstream answers in memory) per tools/call, so that the
// difference between variants is what telemetry adds to the gateway's
// CPU, undiluted by the client's and the upstream's.
func BenchmarkTelemetryHandler(b *testing.B) {
	for _, tc := range variants(b) {
		b.Run(tc.name, func(b *testing.B) {
			kr, _ := session.NewKeyring(session.GenerateSecret())
			var u upstream.Upstream = static{}
			chain := []gateway.Middleware{pass, pass, pass, pass, pass}
			var tel *observe.Telemetry
			if tc.tel {
				o := tc.opts
				o.Getenv = func(string) string { return "" }
				if tc.ratio > 0 {
					o.SampleRatio = &tc.ratio
				}
				var err error
				tel, err = observe.New(context.Background(), o)
				if err != nil {
					b.Fatal(err)
				}
				defer tel.Shutdown(context.Background())
				u = tel.Upstream(u, observe.UpstreamOptions{Route: "r", Address: "127.0.0.1", Port: 80})
				chain = []gateway.Middleware{tel.Middleware("r")}
				for _, name := range []string{"audit", "scopes", "rate_limit", "schema", "pii"} {
					chain = append(chain, tel.Policy(name, pass))
				}
			}
			g, err := gateway.New(gateway.Options{Route: "r", Upstream: u, Keyring: kr, UpstreamEra: gateway.EraLegacy, Middleware: chain})
			if err != nil {
				b.Fatal(err)
			}
			var h http.Handler = g
			if tel != nil {
				h = tel.HTTP(g, observe.HTTPOptions{})
			}
			now := time.Now()
			sid, _ := kr.Seal(&session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "s", Created: now, Expires: now.Add(time.Hour)})
			do := func() {
				req := httptest.NewRequest("POST", "http://127.0.0.1/", bytes.NewReader(benchCall))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Session-Id", sid)
				req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				// Nothing here blocks: without a yield, with one P (and
				// under valgrind, which runs one thread at a time), the
				// span processor's goroutine would seldom run, its queue
				// would stay full and most spans would be dropped, not
				// exported, and so not paid for.
				runtime.Gosched()
			}
			do()
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				do()
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N)/1000, "cpu-us/op")
		})
	}
}

// variant is one telemetry setting the benchmarks compare.
type variant struct {
	name  string
	tel   bool
	opts  observe.Options
	ratio float64
}

// variants returns telemetry off, metrics only, and metrics with tracing
// at ratios 0.01 and 1, exporting to a loopback sink that discards.
func variants(b *testing.B) []variant {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	on := true
	traces := observe.Export{Enabled: &on, Endpoint: sink.URL}
	off := false
	return []variant{
		{name: "off"},
		{name: "default", tel: true, opts: observe.Options{Metrics: observe.Export{Enabled: &off}}},
		{name: "metrics", tel: true, opts: observe.Options{Prometheus: true}},
		{name: "metrics+trace0.01", tel: true, opts: observe.Options{Prometheus: true, Traces: traces}, ratio: 0.01},
		{name: "metrics+trace1", tel: true, opts: observe.Options{Prometheus: true, Traces: traces}, ratio: 1},
	}
}
