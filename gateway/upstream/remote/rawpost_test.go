package remote

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/mcpfort/mcpfort/gateway/upstream"
)

// TestRawPostMatchesRequestWrite: the POST written without an
// http.Request is byte for byte what newRequest and Request.Write put on
// the wire, forwarded fields included: overridden, excluded, invalid,
// multi-valued and holding line breaks.
func TestRawPostMatchesRequestWrite(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`)
	reqs := []*upstream.Request{
		{Body: body},
		{Body: body, Session: "s-1", ProtocolVersion: "2025-11-25"},
		{Body: body, ProtocolVersion: "1999-01-01", LastEventID: "e1"},
		{Body: body, Session: "s", Header: http.Header{
			"Mcp-Method":           {"tools/call"},
			"Mcp-Name":             {"echo"},
			"Mcp-Param-Region":     {"  eu\r\nX-Injected: 1 ", "second"},
			"Traceparent":          {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			"Accept":               {"text/html"},
			"Content-Type":         {"text/plain"},
			"Mcp-Session-Id":       {"forged"},
			"User-Agent":           {"curl"},
			"Host":                 {"evil"},
			"Content-Length":       {"99"},
			"Transfer-Encoding":    {"chunked"},
			"Trailer":              {"X"},
			"Bad Name":             {"dropped"},
			"":                     {"dropped"},
			"Empty":                {},
			"A-First":              {"\t"},
			"Zz":                   {"last"},
			"Last-Event-Id":        {"kept: no LastEventID set"},
			"Mcp-Protocol-Version": {"kept: no version set"},
		}},
		{Body: nil},
	}
	for _, raw := range []string{"http://127.0.0.1:8080/mcp", "http://example.com/a/b?x=1&y=%20", "https://up.example/", "http://[::1]:9/mcp"} {
		u, err := New(Options{URL: raw})
		if err != nil {
			t.Fatal(err)
		}
		if u.fast == nil {
			t.Fatalf("%s: no fast path", raw)
		}
		for i, req := range reqs {
			hr, err := u.newRequest(context.Background(), http.MethodPost, req, req.Body)
			if err != nil {
				t.Fatal(err)
			}
			var want, got bytes.Buffer
			if err := hr.Write(&want); err != nil {
				t.Fatal(err)
			}
			bw := bufio.NewWriter(&got)
			if err := (&rawPost{head: u.postHead, req: req}).writeRequest(bw); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			if got.String() != want.String() {
				t.Errorf("%s, request %d:\n got %q\nwant %q", raw, i, got.String(), want.String())
			}
		}
	}
}

// TestRawPostOnlyWithOwnTransport: a caller's client or credentials
// callback keeps the http.Request path.
func TestRawPostOnlyWithOwnTransport(t *testing.T) {
	for _, opts := range []Options{
		{URL: "http://127.0.0.1:1/mcp", Client: &http.Client{}},
		{URL: "http://127.0.0.1:1/mcp", Authorize: func(context.Context, *http.Request, string) error { return nil }},
	} {
		u, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if u.fast != nil {
			t.Errorf("fast path with %+v", opts)
		}
	}
}
