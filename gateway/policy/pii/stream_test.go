package pii

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

func testCall(t *testing.T, method, params string) *gateway.Call {
	t.Helper()
	m, err := jsonrpc.Decode(jsonrpc.AppendRequest(nil, jsonrpc.Int64ID(3), method, []byte(params)), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := mcp.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "r", Msg: m, Params: p}
}

// TestStreamedReply rewrites each event of a streamed reply on its own:
// a log notification is masked, a progress notification passes, and a
// blocked prompt result becomes a CodeForbidden error.
func TestStreamedReply(t *testing.T) {
	p, err := New(Options{Detectors: map[Kind]Rule{Card: {Results: Block}}})
	if err != nil {
		t.Fatal(err)
	}
	events := []*upstream.Event{
		{ID: "1", Data: []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"user bob@example.com logged in"}}`)},
		{ID: "2", Data: []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"bob@example.com","progress":1}}`)},
		{ID: "3", Data: []byte(`{"jsonrpc":"2.0","id":3,"result":{"messages":[{"role":"user","content":{"type":"text","text":"pay with 4111 1111 1111 1111"}}]}}`)},
	}
	h := p.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) {
		return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: events}, nil
	})
	r, err := h(context.Background(), testCall(t, mcp.MethodPromptsGet, `{"name":"pay"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		ev, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID+" "+string(ev.Data))
	}
	want := []string{
		`1 {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"user b***@example.com logged in"}}`,
		`2 {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"bob@example.com","progress":1}}`,
		`3 {"jsonrpc":"2.0","id":3,"error":{"code":-31005,"message":"Forbidden: Result withheld by the gateway: it contained a payment card number."}}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
