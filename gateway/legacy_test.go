package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
)

// rawClient speaks the legacy era by hand, to test what SDK clients never
// send (batches) or do only on failure (resumption).
type rawClient struct {
	t       *testing.T
	url     string
	sid     string
	version string
}

func (c *rawClient) post(body string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
		req.Header.Set("Mcp-Protocol-Version", c.version)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func (c *rawClient) initialize(version string) {
	c.t.Helper()
	c.initializeWith(version, `{}`)
}

// initializeWith opens a session declaring the client capabilities caps.
func (c *rawClient) initializeWith(version, caps string) {
	c.t.Helper()
	resp := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":` + caps + `,"clientInfo":{"name":"raw","version":"1"}}}`)
	resp.Body.Close()
	c.sid, c.version = resp.Header.Get("Mcp-Session-Id"), version
	if resp.StatusCode != 200 || c.sid == "" {
		c.c(resp)
	}
	resp = c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		c.t.Fatalf("initialized: %d", resp.StatusCode)
	}
}

func (c *rawClient) c(resp *http.Response) { c.t.Fatalf("unexpected response %d", resp.StatusCode) }

type sseEvent struct{ id, data string }

func readEvents(t *testing.T, resp *http.Response, stopAfter int) []sseEvent {
	t.Helper()
	var out []sseEvent
	streamEvents(resp, func(ev sseEvent) bool {
		out = append(out, ev)
		return len(out) != stopAfter
	})
	return out
}

// streamEvents calls fn with each event as it arrives, until fn returns
// false or the stream ends.
func streamEvents(resp *http.Response, fn func(sseEvent) bool) {
	defer resp.Body.Close()
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.id != "" || cur.data != "" {
				if !fn(cur) {
					return
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
}

func TestBatch20250326(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	up := newUpstream(t, stateful)
	gw := newGateway(t, up.URL, kr, gateway.EraAuto)
	c := &rawClient{t: t, url: gw.URL}
	c.initialize("2025-03-26")
	resp := c.post(`[{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo","arguments":{"text":"one"}}},` +
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"x","progress":1}},` +
		`{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"echo","arguments":{"text":"two"}}}]`)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	var texts []string
	collect := func(data []byte) {
		var m struct {
			ID     string `json:"id"`
			Result struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"result"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("bad response %s: %v", data, err)
		}
		texts = append(texts, m.ID+"="+m.Result.Content[0].Text)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		var arr []json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&arr); err != nil {
			t.Fatal(err)
		}
		for _, a := range arr {
			collect(a)
		}
	} else {
		for _, ev := range readEvents(t, resp, 2) {
			collect([]byte(ev.data))
		}
	}
	if strings.Join(texts, ",") != "a=one,b=two" {
		t.Fatalf("batch responses = %v", texts)
	}
	// A 2025-06-18 session refuses batches.
	c2 := &rawClient{t: t, url: gw.URL}
	c2.initialize("2025-06-18")
	resp2 := c2.post(`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`)
	resp2.Body.Close()
	if resp2.StatusCode != 400 {
		t.Fatalf("batch in a 2025-06-18 session: %d, want 400", resp2.StatusCode)
	}
}

var testServerBin string

func buildTestServer(t *testing.T) string {
	t.Helper()
	if testServerBin != "" {
		return testServerBin
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "everything")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/mcpfort/mcpfort/cmd/mcpfort-everything").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestStdioResumption: a legacy client that drops the SSE stream of a call
// to a local server resumes it with GET and Last-Event-ID, gets the rest of
// that stream only, and the call was not cancelled by the disconnect.
func TestStdioResumption(t *testing.T) {
	bin := buildTestServer(t)
	pool, err := stdio.New(stdio.Options{Command: []string{bin}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := local.New(local.Options{Sessions: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close(context.Background())
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, _ := gateway.New(gateway.Options{Route: "r", Upstream: up, Keyring: kr})
	ts := httptest.NewServer(g)
	defer ts.Close()
	c := &rawClient{t: t, url: ts.URL}
	c.initialize("2025-11-25")

	// A progress-reporting call answers with SSE: priming event, progress
	// notifications (about 50ms apart), then the result.
	resp := c.post(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p"}}}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	first := readEvents(t, resp, 2) // priming + first progress; then hang up
	if len(first) != 2 || first[0].data != "" || !strings.Contains(first[1].data, "notifications/progress") {
		t.Fatalf("first events = %+v", first)
	}
	// Another stream of the same session must not leak into the resumed one.
	other := c.post(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"text":"other"}}}`)
	other.Body.Close()

	req, _ := http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", c.sid)
	req.Header.Set("Mcp-Protocol-Version", c.version)
	req.Header.Set("Last-Event-Id", first[1].id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp2, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil || resp2.StatusCode != 200 {
		t.Fatalf("resume: %v %v", resp2, err)
	}
	rest := readEvents(t, resp2, -1)
	var sawResult bool
	for _, ev := range rest {
		if strings.Contains(ev.data, "other") {
			t.Fatalf("resumed stream carried another stream's event: %s", ev.data)
		}
		if strings.Contains(ev.data, `"id":5`) && strings.Contains(ev.data, `"result"`) {
			sawResult = true
		}
		if ev.id == first[1].id {
			t.Fatalf("event %s replayed", ev.id)
		}
	}
	if !sawResult {
		t.Fatalf("resumed stream has no result: %+v", rest)
	}
	_ = fmt.Sprint()
	_ = os.Stderr
}
