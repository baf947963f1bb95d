package upstream

import (
	"testing"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// TestDecodedFormFollowsBytes: a request's or an event's decoded form is
// the one its bytes give: handed over when it was decoded from exactly
// those bytes, decoded again once they are replaced.
func TestDecodedFormFollowsBytes(t *testing.T) {
	m, err := jsonrpc.Decode([]byte(`{"jsonrpc":"2.0","id":1,"method":"a"}`), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	req := Forward(m)
	if got, _ := req.Message(); got != m {
		t.Fatal("Forward's message was decoded again")
	}
	req.Body = []byte(`{"jsonrpc":"2.0","id":1,"method":"b"}`)
	if got, err := req.Message(); err != nil || got.Method != "b" {
		t.Fatalf("after a new Body: %v, %v", got, err)
	}
	copied := append([]byte(nil), m.Raw...)
	req = Forward(m)
	req.Body = copied // equal bytes, another array: decoded anew, never assumed
	if got, _ := req.Message(); got == m {
		t.Fatal("a decoded form served bytes it was not decoded from")
	}

	ev := DecodedEvent("e1", m)
	if got, _ := ev.Message(); got != m {
		t.Fatal("DecodedEvent's message was decoded again")
	}
	if got, _ := ev.WithID("").Message(); got != m {
		t.Fatal("WithID lost the decoded form")
	}
	ev = &Event{Data: []byte(`{"jsonrpc":"2.0","method":"n"}`)}
	first, err := ev.Message()
	if err != nil || first.Method != "n" {
		t.Fatal(first, err)
	}
	if again, _ := ev.Message(); again != first {
		t.Fatal("an event was decoded twice")
	}
	ev.Data = []byte(`not json`)
	if _, err := ev.Message(); err == nil {
		t.Fatal("new Data was not decoded")
	}
}
