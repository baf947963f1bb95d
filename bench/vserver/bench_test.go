package vserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/aggregate"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
)

// echoServer is a minimal legacy-era MCP server (stdlib only, no SDK, no
// session state) listing tools tools named t0..t<n-1>, each echoing its
// text: cheap enough that the gateway is what is measured.
func echoServer(b *testing.B, tools int) string {
	b.Helper()
	var list bytes.Buffer
	list.WriteString(`{"tools":[`)
	for i := range tools {
		if i > 0 {
			list.WriteByte(',')
		}
		fmt.Fprintf(&list, `{"name":"t%d","description":"echoes its text argument back as text content","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}`, i)
	}
	list.WriteString(`]}`)
	listResult := list.Bytes()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			return
		}
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Arguments struct {
					Text string `json:"text"`
				} `json:"arguments"`
			} `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var result []byte
		switch m.Method {
		case "initialize":
			w.Header().Set("Mcp-Session-Id", "s-"+fmt.Sprint(time.Now().UnixNano()))
			result = []byte(`{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"echo","version":"1"}}`)
		case "tools/list":
			result = listResult
		case "tools/call":
			t, _ := json.Marshal(m.Params.Arguments.Text)
			result = []byte(`{"content":[{"type":"text","text":` + string(t) + `}]}`)
		default:
			result = []byte(`{}`)
		}
		w.Header().Set("Content-Type", "application/json")
		out := append([]byte(`{"jsonrpc":"2.0","id":`), m.ID...)
		out = append(out, `,"result":`...)
		out = append(out, result...)
		out = append(out, '}')
		_, _ = w.Write(out)
	}))
	b.Cleanup(ts.Close)
	return ts.URL
}

func remoteUp(b *testing.B, url string) upstream.Upstream {
	up, err := remote.New(remote.Options{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	return up
}

// route serves up as a gateway route with the gateway's defaults (no
// policies: the cost compared is the route's own).
func route(b *testing.B, up upstream.Upstream) string {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: up, UpstreamEra: gateway.EraLegacy, Keyring: kr})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(g)
	b.Cleanup(func() { ts.Close(); up.Close(context.Background()) })
	return ts.URL
}

// client is a legacy-era session over keep-alive HTTP/1.1.
type client struct {
	url, sid string
	hc       *http.Client
}

func (c *client) post(b *testing.B, body string) []byte {
	req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		b.Fatalf("%d: %s", resp.StatusCode, out)
	}
	if c.sid == "" {
		c.sid = resp.Header.Get("Mcp-Session-Id")
	}
	return out
}

func connect(b *testing.B, url string) *client {
	c := &client{url: url, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	c.post(b, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	c.post(b, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return c
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// targets builds the routes compared, each over upstreams of its own:
// single (one upstream of 10 tools), single-50 (one upstream of 50 tools,
// the merged list's size) and vserver-5 (a virtual server of 5 upstreams
// of 10 tools each, prefixes m0_ to m4_, the first empty so that "t0"
// names the same tool on every route).
func targets(b *testing.B) []struct{ name, url, tool string } {
	single := route(b, remoteUp(b, echoServer(b, 10)))
	single50 := route(b, remoteUp(b, echoServer(b, 50)))
	var members []aggregate.Member
	for i := range 5 {
		prefix := fmt.Sprintf("m%d_", i)
		if i == 0 {
			prefix = ""
		}
		members = append(members, aggregate.Member{Name: fmt.Sprintf("m%d", i), Prefix: prefix, Upstream: remoteUp(b, echoServer(b, 10))})
	}
	agg, err := aggregate.New(aggregate.Options{Members: members})
	if err != nil {
		b.Fatal(err)
	}
	vs := route(b, agg)
	return []struct{ name, url, tool string }{
		{"single", single, "t0"}, {"single-50", single50, "t0"}, {"vserver-5", vs, "m3_t7"},
	}
}

// measure runs op b.N times and reports process CPU per op (client,
// gateway and upstreams alike: they share the process).
func measure(b *testing.B, op func()) {
	op()
	b.ReportAllocs()
	b.ResetTimer()
	start := cpu()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(cpu()-start)/float64(b.N)/1e3, "cpu-us/op")
}

// BenchmarkToolsCall: one tools/call through each route.
func BenchmarkToolsCall(b *testing.B) {
	for _, t := range targets(b) {
		b.Run(t.name, func(b *testing.B) {
			c := connect(b, t.url)
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + t.tool + `","arguments":{"text":"hello"}}}`
			measure(b, func() {
				if out := c.post(b, body); !bytes.Contains(out, []byte(`"hello"`)) {
					b.Fatalf("reply %s", out)
				}
			})
		})
	}
}

// BenchmarkToolsList: one tools/list through each route (vserver-5 and
// single-50 answer 50 tools, single 10).
func BenchmarkToolsList(b *testing.B) {
	for _, t := range targets(b) {
		b.Run(t.name, func(b *testing.B) {
			c := connect(b, t.url)
			measure(b, func() {
				if out := c.post(b, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); !bytes.Contains(out, []byte(`"t9"`)) {
					b.Fatalf("reply %s", out)
				}
			})
		})
	}
}
