package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/internal/everything"
)

// mrtrReplicas starts n replicas with state.replica_url, serving server
// (a YAML server entry) at /mcp; bases are their /mcp URLs.
func mrtrReplicas(t *testing.T, n int, server string) (bases []string, stops []func()) {
	t.Helper()
	bases, stops = startReplicas(t, n, "state: {replica_url: \"{self}\"}\nservers:\n"+server)
	for i := range bases {
		bases[i] += "/mcp"
	}
	return bases, stops
}

type mrtrResult struct {
	Result struct {
		ResultType    string                     `json:"resultType"`
		InputRequests map[string]json.RawMessage `json:"inputRequests"`
		RequestState  string                     `json:"requestState"`
		Content       []struct{ Text string }    `json:"content"`
	} `json:"result"`
	Error *struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

var mrtrID atomic.Int32

const mrtrTool = "test_input_required_result_elicitation"

// mrtrCall calls the elicitation tool as a 2026-07-28 client declaring the
// elicitation capability; extra is added to params.
func mrtrCall(t *testing.T, url, extra string) (mrtrResult, int) {
	t.Helper()
	if extra != "" {
		extra += ","
	}
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{},%s`+
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}`,
		mrtrID.Add(1), mrtrTool, extra)
	resp := rawPost(t, url, "", body, map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": mrtrTool})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if i := strings.Index(string(b), "data: "); i >= 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b = []byte(strings.TrimSpace(strings.SplitN(string(b[i+6:]), "\n", 2)[0]))
	}
	var r mrtrResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	return r, resp.StatusCode
}

func mrtrAsk(t *testing.T, url string) (key, state string) {
	t.Helper()
	r, _ := mrtrCall(t, url, "")
	if r.Result.ResultType != "input_required" || len(r.Result.InputRequests) != 1 || r.Result.RequestState == "" {
		t.Fatalf("first round at %s: %+v (error %+v)", url, r, r.Error)
	}
	for k := range r.Result.InputRequests {
		key = k
	}
	return key, r.Result.RequestState
}

func mrtrAnswer(key, state, name string) string {
	return `"requestState":"` + state + `","inputResponses":{"` + key + `":{"action":"accept","content":{"name":"` + name + `"}}}`
}

// TestInputRetryOnAnotherReplica: a legacy upstream (stdio, and remote
// over HTTP) asks a 2026-07-28 client for input through one replica; the
// client's retry with the answer, sent to another replica, is forwarded
// to the replica holding the upstream call and completes it. Once the
// holder is gone, the retry is answered -32602 telling the client to send
// the call again, and a new call works.
func TestInputRetryOnAnotherReplica(t *testing.T) {
	up := httptest.NewServer(everythingHTTP(t))
	defer up.Close()
	for name, server := range map[string]string{
		"stdio": fmt.Sprintf(`  - name: everything
    path: /mcp
    era: legacy
    stdio: {command: [%q]}
`, filepath.Join(binDir, "mcpfort-everything")),
		"http": fmt.Sprintf(`  - name: everything
    path: /mcp
    era: legacy
    http: {url: %q}
`, up.URL+everything.MCPPath),
	} {
		t.Run(name, func(t *testing.T) {
			bases, stops := mrtrReplicas(t, 3, server)
			for i := range bases {
				j := (i + 1) % len(bases)
				key, state := mrtrAsk(t, bases[i])
				who := fmt.Sprint("user", i)
				// An altered state opens nowhere: refused where it lands,
				// never forwarded, and the real one still works.
				altered := []byte(state)
				altered[len(altered)/2] ^= 0x01
				if r, _ := mrtrCall(t, bases[j], mrtrAnswer(key, string(altered), "eve")); r.Error == nil || r.Error.Code != -32602 {
					t.Fatalf("altered state: %+v", r)
				}
				r, st := mrtrCall(t, bases[j], mrtrAnswer(key, state, who))
				if st != 200 || r.Error != nil || r.Result.ResultType != "complete" || len(r.Result.Content) == 0 || r.Result.Content[0].Text != "Hello, "+who+"!" {
					t.Fatalf("asked at replica %d, answered at %d: %d %+v (error %+v)", i, j, st, r, r.Error)
				}
				// Once, wherever it is replayed.
				r, _ = mrtrCall(t, bases[(j+1)%len(bases)], mrtrAnswer(key, state, who))
				if r.Error == nil || r.Error.Code != -32602 {
					t.Fatalf("replayed: %+v", r)
				}
			}
			// The holder stops: the retry elsewhere is told to start
			// again, and starting again works.
			key, state := mrtrAsk(t, bases[0])
			stops[0]()
			r, st := mrtrCall(t, bases[1], mrtrAnswer(key, state, "late"))
			if st != 200 || r.Error == nil || r.Error.Code != -32602 || !strings.Contains(r.Error.Message, "send the call again") {
				t.Fatalf("retry after the holder stopped: %d %+v", st, r.Error)
			}
			key, state = mrtrAsk(t, bases[1])
			r, _ = mrtrCall(t, bases[2], mrtrAnswer(key, state, "again"))
			if r.Error != nil || len(r.Result.Content) == 0 || r.Result.Content[0].Text != "Hello, again!" {
				t.Fatalf("a new call after the holder stopped: %+v", r)
			}
		})
	}
}

func everythingHTTP(t *testing.T) http.Handler {
	t.Helper()
	srv, err := everything.New(everything.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := everything.NewHandler(srv, everything.HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestInputAnswerOnAnotherReplica: a legacy client of a 2026-07-28 HTTP
// upstream behind two replicas gets the upstream's input request on the
// call's stream from one replica; its answer, POSTed to the other, is
// forwarded to the replica holding the stream and completes the call.
func TestInputAnswerOnAnotherReplica(t *testing.T) {
	up := httptest.NewServer(everythingHTTP(t))
	defer up.Close()
	bases, stops := mrtrReplicas(t, 2, fmt.Sprintf(`  - name: everything
    path: /mcp
    era: modern
    http: {url: %q}
`, up.URL+everything.MCPPath))
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"c","version":"1"}}}`
	resp := rawPost(t, bases[0], "", init, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	if sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}
	rawPost(t, bases[0], "", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, hdr).Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// ask starts a call at replica 0 and reads its stream up to the
	// input request; next reads the rest.
	ask := func() (id json.RawMessage, next func() string) {
		req, _ := http.NewRequestWithContext(ctx, "POST", bases[0], strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"`+mrtrTool+`","arguments":{}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		call, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { call.Body.Close() })
		sc := bufio.NewScanner(call.Body)
		next = func() string {
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
					return strings.TrimSpace(d)
				}
			}
			t.Fatalf("the call's stream ended: %v", sc.Err())
			return ""
		}
		var m struct {
			ID     json.RawMessage
			Method string
		}
		for m.Method != "elicitation/create" {
			if err := json.Unmarshal([]byte(next()), &m); err != nil {
				t.Fatal(err)
			}
		}
		return m.ID, next
	}
	answer := func(id json.RawMessage) {
		t.Helper()
		r := rawPost(t, bases[1], "", `{"jsonrpc":"2.0","id":`+string(id)+`,"result":{"action":"accept","content":{"name":"ada"}}}`, hdr)
		r.Body.Close()
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("answer at the other replica: %d", r.StatusCode)
		}
	}
	id, next := ask()
	answer(id)
	for {
		m := next()
		if strings.Contains(m, `"id":2`) {
			if !strings.Contains(m, "Hello, ada!") {
				t.Fatalf("result %s", m)
			}
			break
		}
	}
	// The replica holding the call stops: the answer has nowhere to go,
	// and is accepted as any answer to a request no longer awaited.
	id, _ = ask()
	stops[0]()
	answer(id)
}
