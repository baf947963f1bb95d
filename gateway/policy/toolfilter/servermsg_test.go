package toolfilter

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

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

const (
	hiddenUpdate   = `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///secret/k"}}`
	dotUpdate      = `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///public/../secret/k"}}`
	caseUpdate     = `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///public/a","URI":"file:///secret/k"}}`
	escapedUpdate  = `{"jsonrpc":"2.0","method":"notifications/resources/\u0075pdated","params":{"uri":"file:///secret/k"}}`
	visibleUpdate  = `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///public/a"}}`
	logMessage     = `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"file:///secret/k changed"}}`
	toolsChanged   = `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`
	elicit         = `{"jsonrpc":"2.0","id":"s1","method":"elicitation/create","params":{"message":"ok?","requestedSchema":{"type":"object"}}}`
	replayedList   = `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"secret_admin"}]}}`
	replayedFilter = `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"}]}}`
)

// TestServerMessages checks what comes back on a call's streamed reply
// and on a GET stream: updates of hidden resources are dropped (however
// their URI or method is spelled), everything else passes, and a list
// result replayed on a resumed stream is filtered by its shape.
func TestServerMessages(t *testing.T) {
	f, err := New(Options{Tools: Rules{Deny: []string{"secret*"}}, Resources: Rules{Deny: []string{"file:///secret/*"}}})
	if err != nil {
		t.Fatal(err)
	}
	call := decodeCall(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{}}}`, nil)
	result := `{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`
	got := replay(t, f.Wrap, call, hiddenUpdate, dotUpdate, caseUpdate, escapedUpdate, visibleUpdate, logMessage, toolsChanged, elicit, result)
	want := []string{visibleUpdate, logMessage, toolsChanged, elicit, result}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("call reply:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	stream := &gateway.Call{Route: "r", Msg: &jsonrpc.Message{Kind: jsonrpc.KindNotification}, Stream: true}
	got = replay(t, f.Wrap, stream, hiddenUpdate, visibleUpdate, replayedList)
	want = []string{visibleUpdate, replayedFilter}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestListenChecksEveryURI checks subscriptions/listen like
// resources/subscribe, for each URI, and refuses params it cannot read
// for certain.
func TestListenChecksEveryURI(t *testing.T) {
	f, err := New(Options{Resources: Rules{Deny: []string{"file:///secret/*"}}})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context, *gateway.Call) (upstream.Reply, error) { return upstream.Accepted(), nil }
	for params, code := range map[string]int64{
		`{"notifications":{"toolsListChanged":true}}`:                                         0,
		`{"notifications":{"resourceSubscriptions":["file:///public/a"]}}`:                    0,
		`{"notifications":{"resourceSubscriptions":["file:///public/a","file:///secret/k"]}}`: jsonrpc.CodeForbidden,
		`{"notifications":{"resourceSubscriptions":["file:///public/../secret/k"]}}`:          jsonrpc.CodeForbidden,
		`{"notifications":{"resourceSubscriptions":[1]}}`:                                     jsonrpc.CodeInvalidParams,
		`{"notifications":{"ResourceSubscriptions":["file:///secret/k"]}}`:                    jsonrpc.CodeInvalidParams,
		`{"Notifications":{"resourceSubscriptions":["file:///secret/k"]}}`:                    jsonrpc.CodeInvalidParams,
	} {
		c := decodeCall(t, `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":`+params+`}`, nil)
		_, err := f.Wrap(ok)(context.Background(), c)
		var re *jsonrpc.Error
		switch {
		case code == 0 && err != nil:
			t.Errorf("%s: %v", params, err)
		case code != 0 && (!errors.As(err, &re) || re.Code != code):
			t.Errorf("%s: %v, want code %d", params, err, code)
		}
	}
}

// BenchmarkCallReply is the cost the resource rules add to each event of
// a tools/call reply: a result without escapes (no decode) and one with
// escapes (decoded once, since an escaped method could hide an update).
func BenchmarkCallReply(b *testing.B) {
	f, err := New(Options{Resources: Rules{Deny: []string{"file:///secret/*"}}})
	if err != nil {
		b.Fatal(err)
	}
	plain := []byte(`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"` + strings.Repeat("lorem ipsum ", 80) + `"}]}}`)
	escaped := []byte(`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"` + strings.Repeat("lorem \"ipsum\"\n", 80) + `"}]}}`)
	for _, bc := range []struct {
		name string
		data []byte
	}{{"plain", plain}, {"escaped", escaped}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				if _, err := f.serverMessage(&upstream.Event{Data: bc.data}, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFilterList is list filtering on a 21-tool tools/list result
// the chokepoint has decoded: find the tools, read each name, rebuild the
// list without the denied ones.
func BenchmarkFilterList(b *testing.B) {
	var tools []string
	for i := range 21 {
		tools = append(tools, `{"name":"tool_`+strings.Repeat("x", i%3)+string(rune('a'+i))+`","description":"does a thing, \"well\"","inputSchema":{"type":"object","properties":{"x":{"type":"string","maxLength":64}}}}`)
	}
	data := []byte(`{"jsonrpc":"2.0","id":3,"result":{"tools":[` + strings.Join(tools, ",") + `]}}`)
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	keep := func(name string) bool { return !strings.HasSuffix(name, "c") }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filterMessage(data, m, "tools", "name", keep); err != nil {
			b.Fatal(err)
		}
	}
}
