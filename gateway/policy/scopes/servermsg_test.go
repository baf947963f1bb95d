package scopes

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

func decode(t *testing.T, raw string, pr *gateway.Principal) *gateway.Call {
	t.Helper()
	m, err := jsonrpc.Decode([]byte(raw), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := mcp.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "r", Msg: m, Params: p, Principal: pr}
}

// replay runs call c through h in front of an upstream answering with
// events, and returns the data of every event the client gets.
func replay(t *testing.T, h gateway.Middleware, c *gateway.Call, events ...string) []string {
	t.Helper()
	var evs []*upstream.Event
	for _, e := range events {
		evs = append(evs, &upstream.Event{Data: []byte(e)})
	}
	r, err := h(func(context.Context, *gateway.Call) (upstream.Reply, error) {
		return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: evs}, nil
	})(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
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

// TestServerMessages checks what comes back on a call's streamed reply
// and on a GET stream: updates of resources a rule denies the principal
// (by scope or by group) are dropped, everything else passes, and a list
// result replayed on a resumed stream is filtered by its shape.
func TestServerMessages(t *testing.T) {
	pol := New(Options{
		Tools: []Rule{{Pattern: "admin_*", Scopes: []string{"mcp:admin"}}},
		Resources: []Rule{
			{Pattern: "file:///secret/*", Scopes: []string{"mcp:secrets"}},
			{Pattern: "file:///hr/*", Groups: []string{"hr"}},
		},
	})
	updated := func(uri string) string {
		return `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"` + uri + `"}}`
	}
	caseVariant := `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///public/a","Uri":"file:///secret/k"}}`
	logMessage := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"file:///secret/k changed"}}`
	toolsChanged := `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`
	result := `{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`
	pr := &gateway.Principal{Subject: "u", Scopes: []string{"mcp:read"}, Groups: []string{"staff"}}
	call := decode(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{}}}`, pr)
	got := replay(t, pol, call, updated("file:///secret/k"), updated("file:///hr/pay"), caseVariant, updated("file:///public/a"), logMessage, toolsChanged, result)
	want := []string{updated("file:///public/a"), logMessage, toolsChanged, result}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("call reply:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	allowed := &gateway.Principal{Subject: "u", Scopes: []string{"mcp:secrets"}, Groups: []string{"hr"}}
	call = decode(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{}}}`, allowed)
	got = replay(t, pol, call, updated("file:///secret/k"), updated("file:///hr/pay"), result)
	if want := []string{updated("file:///secret/k"), updated("file:///hr/pay"), result}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("allowed call reply:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	stream := &gateway.Call{Route: "r", Msg: &jsonrpc.Message{Kind: jsonrpc.KindNotification}, Stream: true, Principal: pr}
	list := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"admin_delete"}]}}`
	got = replay(t, pol, stream, updated("file:///secret/k"), list)
	if want := []string{`{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"}]}}`}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestListenNeedsWhatSubscribeNeeds checks subscriptions/listen against
// the resource rules of every URI it subscribes to.
func TestListenNeedsWhatSubscribeNeeds(t *testing.T) {
	pol := New(Options{Resources: []Rule{
		{Pattern: "file:///secret/*", Scopes: []string{"mcp:secrets"}},
		{Pattern: "file:///hr/*", Groups: []string{"hr"}},
	}})
	ok := func(context.Context, *gateway.Call) (upstream.Reply, error) { return upstream.Accepted(), nil }
	pr := &gateway.Principal{Subject: "u", Scopes: []string{"mcp:read"}}
	for params, code := range map[string]int64{
		`{"notifications":{"toolsListChanged":true}}`:                                         0,
		`{"notifications":{"resourceSubscriptions":["file:///public/a"]}}`:                    0,
		`{"notifications":{"resourceSubscriptions":["file:///public/a","file:///secret/k"]}}`: jsonrpc.CodeForbidden,
		`{"notifications":{"resourceSubscriptions":["file:///hr/pay"]}}`:                      jsonrpc.CodeForbidden,
		`{"notifications":{"resourceSubscriptions":"file:///secret/k"}}`:                      jsonrpc.CodeInvalidParams,
		`{"notifications":{"resourceSubscriptionS":["file:///secret/k"]}}`:                    jsonrpc.CodeInvalidParams,
	} {
		_, err := pol(ok)(context.Background(), decode(t, `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":`+params+`}`, pr))
		var re *jsonrpc.Error
		switch {
		case code == 0 && err != nil:
			t.Errorf("%s: %v", params, err)
		case code != 0 && (!errors.As(err, &re) || re.Code != code):
			t.Errorf("%s: %v, want code %d", params, err, code)
		}
	}
}
