package remote

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mcpfort/mcpfort/gateway/upstream"
)

// TestSSEReplyEvents reads an upstream's event stream the way a client
// would: every line end splits, events of another type than "message" keep
// only their id and retry hint, and events a client would not dispatch
// and that carry no id or retry hint are skipped.
func TestSSEReplyEvents(t *testing.T) {
	const stream = "id: 1\rdata: {\"a\":1}\r\r" +
		"event: endpoint\nid: 2\ndata: /other\n\n" +
		"event: other\ndata: {\"b\":2}\n\n" +
		"data:\n\n" +
		": comment\n\n" +
		"retry: 50\r\n\r\n" +
		"event: message\ndata: {\"c\":\r\ndata: 3}\n\n" +
		"data: unterminated"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, stream)
	}))
	defer srv.Close()
	u, err := New(Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reply, err := u.Post(ctx, &upstream.Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"m"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()
	if !reply.Info().Stream {
		t.Fatal("not a stream")
	}
	var got []upstream.Event
	for {
		ev, err := reply.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, *ev)
	}
	want := []upstream.Event{
		{ID: "1", Data: []byte(`{"a":1}`)},
		{ID: "2"},
		{Data: []byte{}}, // a client dispatches it; the relay skips it
		{Retry: 50},
		{Data: []byte("{\"c\":\n3}")},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(upstream.Event{})); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}
