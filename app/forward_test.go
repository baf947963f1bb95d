package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// roundRobin sends each request to the next replica, as a load balancer
// without stickiness does.
type roundRobin struct {
	hosts []string
	n     atomic.Int64
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = rr.hosts[int(rr.n.Add(1))%len(rr.hosts)]
	r.Host = ""
	return http.DefaultTransport.RoundTrip(r)
}

// TestStdioSessionsForwardedToTheirOwner: three replicas with
// state.replica_url share the session secret and Redis; a legacy session
// of a stdio server lives in the process of the replica that initialized
// it, and every other replica forwards its POST, GET and DELETE there.
// A go-sdk client behind round-robin balancing works, streams included;
// once the owner is gone the session is 404, never a fresh process.
func TestStdioSessionsForwardedToTheirOwner(t *testing.T) {
	bases, stops := startReplicas(t, 3, fmt.Sprintf(`state: {redis: "redis://127.0.0.1:6379/0", replica_url: "{self}"}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q], isolation: per_session}
`, filepath.Join(binDir, "mcpfort-everything")))
	var hosts []string
	for _, b := range bases {
		u, _ := url.Parse(b)
		hosts = append(hosts, u.Host)
	}
	rr := &roundRobin{hosts: hosts}
	c := mcp.NewClient(&mcp.Implementation{Name: "rr", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: bases[0] + "/mcp", HTTPClient: &http.Client{Transport: rr}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect behind round robin: %v", err)
	}
	for i := 0; i < 9; i++ { // three times through every replica
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": fmt.Sprint("call ", i)}})
		if err != nil || res.IsError || !strings.Contains(fmt.Sprint(res.Content[0]), fmt.Sprint("call ", i)) {
			t.Fatalf("call %d: %v %+v", i, err, res)
		}
	}
	cs.Close()

	// By hand: initialize at replica 0, then every replica serves the
	// session, and DELETE through replica 2 ends it everywhere.
	resp := rawPost(t, bases[0]+"/mcp", "", initBody, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"forwarded"}}}`
	for i, b := range bases {
		r := rawPost(t, b+"/mcp", "", call, hdr)
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(body), "forwarded") {
			t.Fatalf("tools/call at replica %d: %d %s", i, r.StatusCode, body)
		}
	}
	// A forged forwarding mark is ignored: the request is forwarded as
	// any other (and served by the owner).
	r := rawPost(t, bases[1]+"/mcp", "", call, map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25", "Mcpfort-Forwarded": "1.AAAA"})
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(body), "forwarded") {
		t.Fatalf("with a forged mark: %d %s", r.StatusCode, body)
	}

	// The owner stops: the session is gone at every replica (404), and
	// no replica starts a process that answers as if initialised.
	stops[0]()
	for i, b := range bases[1:] {
		r := rawPost(t, b+"/mcp", "", call, hdr)
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 404 {
			t.Errorf("replica %d after the owner stopped: %d %s, want 404", i+1, r.StatusCode, body)
		}
	}
	// A new session works (it lives on a replica that is up).
	resp = rawPost(t, bases[1]+"/mcp", "", initBody, nil)
	sid2 := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	r = rawPost(t, bases[2]+"/mcp", "", call, map[string]string{"Mcp-Session-Id": sid2, "Mcp-Protocol-Version": "2025-11-25"})
	body, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(body), "forwarded") {
		t.Fatalf("a new session through another replica: %d %s", r.StatusCode, body)
	}
	del, _ := http.NewRequest("DELETE", bases[2]+"/mcp", nil)
	del.Header.Set("Mcp-Session-Id", sid2)
	dr, err := http.DefaultClient.Do(del)
	if err != nil || dr.StatusCode != 200 {
		t.Fatalf("DELETE through another replica: %v %v", dr, err)
	}
	dr.Body.Close()
	r = rawPost(t, bases[1]+"/mcp", "", call, map[string]string{"Mcp-Session-Id": sid2, "Mcp-Protocol-Version": "2025-11-25"})
	r.Body.Close()
	if r.StatusCode != 404 {
		t.Errorf("after DELETE: %d, want 404", r.StatusCode)
	}
}

// TestForwardedStreamEndsOnShutdown: a replica that shuts down ends the
// GET streams it forwards to other replicas cleanly and at once, as it
// ends its own, so the client reopens them elsewhere; they neither hold
// the shutdown until http.shutdown_grace nor are cut at its end.
func TestForwardedStreamEndsOnShutdown(t *testing.T) {
	bases, stops := startReplicas(t, 2, fmt.Sprintf(`http: {shutdown_grace: 5s}
state: {redis: "redis://127.0.0.1:6379/0", replica_url: "{self}"}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q], isolation: per_session}
`, filepath.Join(binDir, "mcpfort-everything")))
	resp := rawPost(t, bases[0]+"/mcp", "", initBody, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	if sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	// The session's GET stream, through replica 1 to its owner, replica 0.
	req, _ := http.NewRequest("GET", bases[1]+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	get, err := http.DefaultClient.Do(req)
	if err != nil || get.StatusCode != 200 {
		t.Fatalf("GET through replica 1: %v %v", get, err)
	}
	defer get.Body.Close()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, get.Body)
		ended <- err
	}()
	began := time.Now()
	stops[1]()
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("replica 1 took %v to stop: the forwarded stream held it", d)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the forwarded stream was cut (%v), not ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the forwarded stream is still open after replica 1 stopped")
	}
}

// TestFrontDoorSessionsForwarded: the HTTP+SSE front door (legacy_sse)
// on three replicas behind round-robin balancing. A session's stream is
// held by the replica that opened it; its POSTs land anywhere and are
// forwarded there, since the session id names that replica, sealed. A
// forged id is 404 at every replica.
func TestFrontDoorSessionsForwarded(t *testing.T) {
	bases, _ := startReplicas(t, 3, fmt.Sprintf(`state: {replica_url: "{self}"}
servers:
  - name: everything
    path: /mcp
    legacy_sse: true
    stdio: {command: [%q], isolation: per_session}
`, filepath.Join(binDir, "mcpfort-everything")))
	var hosts []string
	for _, b := range bases {
		u, _ := url.Parse(b)
		hosts = append(hosts, u.Host)
	}
	rr := &roundRobin{hosts: hosts}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for s := 0; s < 2; s++ { // streams held by two different replicas
		c := mcp.NewClient(&mcp.Implementation{Name: "rr-sse", Version: "1"}, nil)
		cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: bases[0] + "/mcp/sse", HTTPClient: &http.Client{Transport: rr}}, nil)
		if err != nil {
			t.Fatalf("connect through the front door behind round robin: %v", err)
		}
		for i := 0; i < 6; i++ { // twice through every replica
			text := fmt.Sprintf("session %d call %d", s, i)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
			if err != nil || res.IsError || !strings.Contains(fmt.Sprint(res.Content[0]), text) {
				t.Fatalf("%s: %v %+v", text, err, res)
			}
		}
		cs.Close()
	}
	for i, b := range bases {
		for _, id := range []string{"forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			resp, err := http.Post(b+"/mcp/message?sessionId="+id, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("replica %d, forged id %q: %d, want 404", i, id, resp.StatusCode)
			}
		}
	}
}
