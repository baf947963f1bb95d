package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIn struct {
	Text string `json:"text"`
}

// goSDK serves the official Go SDK with an echo tool, both eras on one
// endpoint as the bench peer does.
func goSDK(t *testing.T, jsonResponse bool) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	get := func(*http.Request) *mcp.Server { return s }
	legacy := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{JSONResponse: jsonResponse})
	modern := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{JSONResponse: jsonResponse, Stateless: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Mcp-Protocol-Version") >= VersionModern {
			modern.ServeHTTP(w, r)
			return
		}
		legacy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

func quick(url string, era Era) Options {
	return Options{URL: url, Era: era, VUs: 4, Warmup: -1, Duration: 150 * time.Millisecond, Timeout: 10 * time.Second}
}

func TestRunAgainstGoSDK(t *testing.T) {
	tests := []struct {
		name string
		json bool
		era  Era
	}{
		{"legacy, JSON responses", true, EraLegacy},
		{"legacy, SSE responses", false, EraLegacy},
		{"2026-07-28, JSON responses", true, EraModern},
		{"2026-07-28, SSE responses", false, EraModern},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var began, ended atomic.Bool
			o := quick(goSDK(t, tt.json), tt.era)
			o.Begin = func() { began.Store(true) }
			o.End = func() { ended.Store(true) }
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Failures() != 0 || res.Calls == 0 {
				t.Fatalf("calls %d, failures %d: %v", res.Calls, res.Failures(), res.Samples)
			}
			if res.Latency.Count() != uint64(res.Calls) || res.Rate() <= 0 {
				t.Errorf("latency count %d for %d calls, rate %v", res.Latency.Count(), res.Calls, res.Rate())
			}
			if !began.Load() || !ended.Load() {
				t.Error("Begin or End not called")
			}
		})
	}
}

// fixed answers every POST with status and body, as Content-Type ct.
func fixed(t *testing.T, status int, ct, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

func TestRunCountsBadReplies(t *testing.T) {
	const echoFirst = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"not the echo"}]}}`
	tests := []struct {
		name   string
		status int
		ct     string
		body   string
		check  Check
		want   ErrorKind
	}{
		{"fixed reply fails the echo check", 200, "application/json", echoFirst, CheckEcho, KindProtocol},
		{"HTTP 500", 500, "application/json", `{}`, CheckShape, KindStatus},
		{"JSON-RPC error", 200, "application/json", `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}`, CheckShape, KindRPC},
		{"tool error", 200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"x"}],"isError":true}}`, CheckShape, KindRPC},
		{"no text content", 200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, CheckShape, KindProtocol},
		{"not JSON", 200, "application/json", `<html>`, CheckShape, KindProtocol},
		{"wrong content type", 200, "text/plain", echoFirst, CheckShape, KindProtocol},
		{"stream without the response", 200, "text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n", CheckShape, KindProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := quick(fixed(t, tt.status, tt.ct, tt.body), EraNone)
			o.Check, o.VUs, o.Duration = tt.check, 1, 30*time.Millisecond
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Calls != 0 || res.ByKind[tt.want] == 0 || res.ByKind[tt.want] != res.Failures() {
				t.Errorf("calls %d, failures by kind %v, want all %v: %v", res.Calls, res.ByKind, tt.want, res.Samples)
			}
		})
	}
}

func TestRunShapeCheckAcceptsFixedReplies(t *testing.T) {
	o := quick(fixed(t, 200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`), EraNone)
	o.Check = CheckShape
	res, err := Run(context.Background(), o)
	if err != nil || res.Failures() != 0 || res.Calls == 0 {
		t.Fatalf("Run: %v; calls %d, failures %d: %v", err, res.Calls, res.Failures(), res.Samples)
	}
}

func TestRunFailsWhenNobodyCanSetUp(t *testing.T) {
	o := quick(fixed(t, 404, "application/json", `{}`), EraLegacy)
	res, err := Run(context.Background(), o)
	if err == nil {
		t.Fatal("Run succeeded against a server that refuses initialize")
	}
	if res == nil || res.OtherErrors != int64(o.VUs) {
		t.Errorf("result %+v, want %d setup failures", res, o.VUs)
	}
}

func TestSessionsStreamsAndBurst(t *testing.T) {
	url := goSDK(t, true)
	ctx := context.Background()
	o := ManyOptions{URL: url, Conns: 4, Timeout: 10 * time.Second}
	sessions, tally, err := OpenSessions(ctx, 20, o)
	if err != nil || tally.Failures != 0 || len(sessions) != 20 || tally.OK != 20 {
		t.Fatalf("OpenSessions: %v, %d sessions, %+v", err, len(sessions), tally)
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		if s.ID == "" || s.Version != VersionLegacy || seen[s.ID] {
			t.Fatalf("session %+v: want a fresh id and version %s", s, VersionLegacy)
		}
		seen[s.ID] = true
	}
	calls, err := CallEach(ctx, sessions, o)
	if err != nil || calls.OK != 20 || calls.Failures != 0 {
		t.Fatalf("CallEach: %v, %+v", err, calls)
	}
	streams, st, err := HoldStreams(ctx, sessions, o)
	if err != nil || streams.Len() != 20 || st.Failures != 0 {
		t.Fatalf("HoldStreams: %v, %d held, %+v", err, streams.Len(), st)
	}
	streams.Close()
	if streams.Len() != 0 {
		t.Error("Close left streams")
	}
	burst, err := Burst(ctx, BurstOptions{URL: url, N: 20, Timeout: 10 * time.Second})
	if err != nil || burst.OK != 20 || burst.Failures != 0 || burst.Latency.Count() != 20 {
		t.Fatalf("Burst: %v, %+v", err, burst)
	}
}

func TestManyStopsAfterMaxFailures(t *testing.T) {
	url := fixed(t, 500, "application/json", `{}`)
	_, tally, err := OpenSessions(context.Background(), 1000, ManyOptions{URL: url, Conns: 2, MaxFailures: 5})
	if err != nil {
		t.Fatal(err)
	}
	if tally.Failures < 5 || tally.Failures > 6 || tally.Abandoned != 1000-tally.Failures {
		t.Errorf("failures %d, abandoned %d: want a stop after 5", tally.Failures, tally.Abandoned)
	}
}

// TestStaleConnectionIsRetried serves one request per connection and then
// closes it without saying so, as a server whose idle timeout fired does:
// the next request on that connection is replayed once on a new one.
func TestStaleConnectionIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	tg, err := parseTarget("http://" + ln.Addr().String() + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(tg, 1<<20, 5*time.Second)
	defer c.Close()
	var r request
	for i := range 3 {
		resp, err := c.roundTrip(context.Background(), r.build("POST", tg, nil, []byte(`{}`)), false)
		if err != nil || resp.status != 200 || string(resp.body) != "ok" {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (one replay per stale connection)", n)
	}
}

func TestRequestBuild(t *testing.T) {
	tg, err := parseTarget("http://127.0.0.1:9/a/mcp?x=1")
	if err != nil {
		t.Fatal(err)
	}
	var r request
	got := string(r.build("POST", tg, []header{{"Mcp-Session-Id", "s"}}, []byte(`{"a":1}`)))
	want := "POST /a/mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUser-Agent: mcpload\r\nAccept: application/json, text/event-stream\r\n" +
		"Mcp-Session-Id: s\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
	if got != want {
		t.Errorf("build =\n%q\nwant\n%q", got, want)
	}
	got = string(r.build("GET", tg, nil, nil))
	if !strings.HasPrefix(got, "GET /a/mcp?x=1 HTTP/1.1\r\n") || !strings.Contains(got, "Accept: text/event-stream\r\n") || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("GET request %q", got)
	}
	for _, bad := range []string{"https://example.com/mcp", "ftp://x/", "http:///mcp", "::"} {
		if _, err := parseTarget(bad); err == nil {
			t.Errorf("parseTarget(%q) accepted", bad)
		}
	}
}

func TestParseEra(t *testing.T) {
	for in, want := range map[string]Era{"legacy": EraLegacy, "2025-11-25": EraLegacy, "modern": EraModern, "2026-07-28": EraModern, "none": EraNone} {
		if got, err := ParseEra(in); err != nil || got != want || (got.String() != in && !strings.HasPrefix(in, "20")) {
			t.Errorf("ParseEra(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseEra("2024-11-05"); err == nil {
		t.Error("ParseEra accepted an unknown era")
	}
}
