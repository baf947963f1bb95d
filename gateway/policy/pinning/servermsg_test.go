package pinning

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

func testCall(t *testing.T, raw string) *gateway.Call {
	t.Helper()
	m, err := jsonrpc.Decode([]byte(raw), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := mcp.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "r", Msg: m, Params: p}
}

func drain(t *testing.T, r upstream.Reply) []string {
	t.Helper()
	var got []string
	for {
		ev, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev.Data))
	}
}

// TestListChangedOnAnyReply: a notifications/tools/list_changed carried
// by the reply of any call (here a tools/call's SSE stream) makes the next
// call of a tool relearn its definition, well within the catalog's TTL, and
// refuse it when it changed. The notification reaches the client.
func TestListChangedOnAnyReply(t *testing.T) {
	p, err := New(Options{ServerOptions: ServerOptions{TrustOnFirstUse: true}})
	if err != nil {
		t.Fatal(err)
	}
	var desc atomic.Value
	desc.Store("echoes")
	changed := `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`
	var lists atomic.Int32
	up := func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		switch {
		case c.Msg.Method == mcp.MethodToolsList:
			lists.Add(1)
			res := `{"tools":[{"name":"echo","description":"` + desc.Load().(string) + `","inputSchema":{"type":"object"}},{"name":"poke","inputSchema":{"type":"object"}}]}`
			return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(res))), nil
		case c.Params.Name == "poke":
			desc.Store("echoes, and more")
			return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: []*upstream.Event{
				{Data: []byte(changed)}, {Data: jsonrpc.AppendResult(nil, c.Msg.ID, []byte(`{"content":[]}`))},
			}}, nil
		}
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(`{"content":[]}`))), nil
	}
	h := p.Wrap(up)
	cat := gateway.NewCatalog(up, gateway.CatalogOptions{})
	ctx := context.Background()
	lc := testCall(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`)
	lc.Catalog = cat
	r, err := h(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, r); len(got) != 1 || !strings.Contains(got[0], `"echo"`) {
		t.Fatalf("first list: %q", got)
	}
	call := func(id, name string) error {
		c := testCall(t, `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"`+name+`","arguments":{}}}`)
		c.Catalog = cat
		r, err := h(ctx, c)
		if err == nil {
			if got := drain(t, r); name == "poke" && (len(got) != 2 || got[0] != changed) {
				t.Fatalf("poke reply: %q", got)
			}
		}
		return err
	}
	if err := call("2", "echo"); err != nil {
		t.Fatalf("echo before the change: %v", err)
	}
	before := lists.Load()
	if err := call("3", "poke"); err != nil {
		t.Fatalf("poke: %v", err)
	}
	err = call("4", "echo")
	var re *jsonrpc.Error
	if !errors.As(err, &re) || re.Code != jsonrpc.CodeForbidden || !strings.Contains(re.Message, "quarantined") {
		t.Fatalf("echo after the change: %v", err)
	}
	if lists.Load() == before {
		t.Fatal("the policy did not relearn the tools")
	}
}

// TestStreamReplaysFilteredList: a tools/list result replayed on a
// resumed GET stream is filtered as the list's own reply would be.
func TestStreamReplaysFilteredList(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	list := `{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}}`
	note := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`
	h := p.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) {
		return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: []*upstream.Event{{Data: []byte(note)}, {Data: []byte(list)}}}, nil
	})
	r, err := h(context.Background(), &gateway.Call{Route: "r", Msg: &jsonrpc.Message{Kind: jsonrpc.KindNotification}, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, r)
	if len(got) != 2 || got[0] != note || strings.Contains(got[1], "echo") {
		t.Fatalf("stream: %q", got)
	}
}
