package gateway

import (
	"testing"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// TestCallForward: the request newCall makes room for goes upstream once;
// a second dispatch of the same call, or a copy of it, gets a request of
// its own, so that a request an upstream may still hold is never
// rewritten.
func TestCallForward(t *testing.T) {
	msg, err := jsonrpc.Decode([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c := newCall(Call{Msg: msg})
	cp := *c
	room := c.req
	first := c.forward()
	if room == nil || first != room {
		t.Fatal("the room was not used")
	}
	if m, err := first.Message(); err != nil || m != msg || string(first.Body) != string(msg.Raw) {
		t.Fatalf("forwarded %q, %v", first.Body, err)
	}
	if second := c.forward(); second == first {
		t.Fatal("a second dispatch reused the first request")
	}
	if other := cp.forward(); other == first {
		t.Fatal("a copy of the call used its room")
	}
	if n := testing.AllocsPerRun(100, func() { newCall(Call{Msg: msg}).forward() }); n != 1 {
		t.Errorf("a call and its upstream request: %v allocations, want 1", n)
	}
}
