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

func testCall(t testing.TB, method, params string) *gateway.Call {
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
// a log notification is masked, a progress notification's message is
// masked (a blocked kind redacted) but its token kept, a server-to-client
// request is masked, and a blocked prompt result becomes a CodeForbidden
// error.
func TestStreamedReply(t *testing.T) {
	p, err := New(Options{Detectors: map[Kind]Rule{Card: {Results: Block}}})
	if err != nil {
		t.Fatal(err)
	}
	events := []*upstream.Event{
		{ID: "1", Data: []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"user bob@example.com logged in"}}`)},
		{ID: "2", Data: []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"bob@example.com","progress":1,"message":"card 4111 1111 1111 1111 of bob@example.com"}}`)},
		{ID: "2b", Data: []byte(`{"jsonrpc":"2.0","id":"s1","method":"elicitation/create","params":{"message":"Is ann@example.com yours?","requestedSchema":{"type":"object","properties":{"ann@example.com":{"type":"string","default":"+44 20 7946 0958"}}}}}`)},
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
		`2 {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"bob@example.com","progress":1,"message":"card [REDACTED:card] of b***@example.com"}}`,
		`2b {"jsonrpc":"2.0","id":"s1","method":"elicitation/create","params":{"message":"Is a***@example.com yours?","requestedSchema":{"type":"object","properties":{"a***@example.com":{"type":"string","default":"+** ** **** **58"}}}}}`,
		`3 {"jsonrpc":"2.0","id":3,"error":{"code":-31005,"message":"Forbidden: Result withheld by the gateway: it contained a payment card number."}}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func testMessage(t *testing.T, raw string) *gateway.Call {
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

// TestClientInput checks what a client sends for the upstream to use
// besides arguments: a legacy client's answer to a server request, and a
// 2026-07-28 client's inputResponses. Masked values are forwarded masked;
// a blocked kind turns the answer into an error response and refuses the
// request.
func TestClientInput(t *testing.T) {
	p, err := New(Options{Detectors: map[Kind]Rule{Card: {Arguments: Block}}})
	if err != nil {
		t.Fatal(err)
	}
	var sent []byte
	h := p.Wrap(func(_ context.Context, c *gateway.Call) (upstream.Reply, error) {
		sent = c.Body()
		return upstream.Accepted(), nil
	})
	for _, tt := range []struct{ name, in, want, err string }{
		{
			name: "answer masked",
			in:   `{"jsonrpc":"2.0","id":"s1","result":{"action":"accept","content":{"name":"ann@example.com"}}}`,
			want: `{"jsonrpc":"2.0","id":"s1","result":{"action":"accept","content":{"name":"a***@example.com"}}}`,
		},
		{
			name: "error answer masked",
			in:   `{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"ann@example.com declined"}}`,
			want: `{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"a***@example.com declined"}}`,
		},
		{
			name: "answer blocked",
			in:   `{"jsonrpc":"2.0","id":"s2","result":{"role":"assistant","model":"m","content":{"type":"text","text":"4111 1111 1111 1111"}}}`,
			want: `{"jsonrpc":"2.0","id":"s2","error":{"code":-31005,"message":"Forbidden: the client's answer contained a payment card number, which this gateway does not forward"}}`,
		},
		{
			name: "client notification masked, token kept",
			in:   `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"ann@example.com","progress":1,"message":"asking ann@example.com, card 4111 1111 1111 1111"}}`,
			want: `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"ann@example.com","progress":1,"message":"asking a***@example.com, card [REDACTED:card]"}}`,
		},
		{
			name: "inputResponses masked, requestState kept",
			in:   `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{"q":"bob@example.com"},"inputResponses":{"who":{"action":"accept","content":{"name":"ann@example.com"}}},"requestState":"abc"}}`,
			want: `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{"q":"b***@example.com"},"inputResponses":{"who":{"action":"accept","content":{"name":"a***@example.com"}}},"requestState":"abc"}}`,
		},
		{
			name: "inputResponses of resources/read masked",
			in:   `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"x://ann@example.com","inputResponses":{"who":{"action":"accept","content":{"name":"ann@example.com"}}}}}`,
			want: `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"x://ann@example.com","inputResponses":{"who":{"action":"accept","content":{"name":"a***@example.com"}}}}}`,
		},
		{
			name: "inputResponses blocked",
			in:   `{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"p","inputResponses":{"gen":{"content":{"type":"text","text":"4111 1111 1111 1111"}}}}}`,
			err:  "payment card number",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sent = nil
			_, err := h(context.Background(), testMessage(t, tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || sent != nil {
					t.Fatalf("err = %v, sent %s", err, sent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(sent) != tt.want {
				t.Fatalf("sent %s\nwant %s", sent, tt.want)
			}
		})
	}
}
