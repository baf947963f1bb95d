package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A stream the upstream sent whole (every event in the buffer when its
// answer was read) is relayed without a flush: net/http writes the headers
// and the events at once when the handler returns. A stream still coming
// is flushed as it comes, so that the client sees its headers and each
// event without waiting for the end.
func TestWholeStreamOneWrite(t *testing.T) {
	const events = "id: s1_1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n" +
		"id: s1_2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n"
	for _, tc := range []struct {
		name      string
		slow      bool
		wantFlush bool
	}{{"whole", false, false}, {"coming", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/event-stream")
				if !tc.slow {
					io.WriteString(w, events)
					return
				}
				first, rest, _ := strings.Cut(events, "\n\n")
				io.WriteString(w, first+"\n\n")
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
				io.WriteString(w, rest)
			}))
			defer up.Close()
			g, sid := legacyGateway(t, up.URL)
			req := callRequest("http://127.0.0.1/mcp", sid)
			rec := httptest.NewRecorder()
			g.ServeHTTP(rec, req)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, Content-Type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			body := rec.Body.String()
			if !strings.Contains(body, "notifications/progress") || !strings.Contains(body, `"result":{"content":[]}`) {
				t.Fatalf("both events must be relayed: %q", body)
			}
			if rec.Flushed != tc.wantFlush {
				t.Fatalf("flushed = %v, want %v", rec.Flushed, tc.wantFlush)
			}
		})
	}
}
