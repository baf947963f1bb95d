package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestForwarder: -mode h1 passes the body, the MCP headers and the status
// through both ways and keeps its upstream connection alive.
func TestForwarder(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Mcp-Session-Id") != "s1" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers not passed on", http.StatusTeapot)
			return
		}
		w.Header().Set("Mcp-Session-Id", "s2")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write(append([]byte("echo:"), body...))
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	f := &forwarder{up: strings.TrimPrefix(up.URL, "http://"), idle: make(chan *upConn, 4)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(`{"x":1}`))
		req.Header.Set("Mcp-Session-Id", "s1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || string(body) != `echo:{"x":1}` || resp.Header.Get("Mcp-Session-Id") != "s2" {
			t.Fatalf("answer %d %q session %q", resp.StatusCode, body, resp.Header.Get("Mcp-Session-Id"))
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 3 sequential requests, want 1", n)
	}
}
