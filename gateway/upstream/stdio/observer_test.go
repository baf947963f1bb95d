package stdio

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// event is one Observer report.
type event struct {
	kind   string // "wait" or "start"
	caller string // the ctxKey value of the context it came with
	d      time.Duration
	err    error
}

type ctxKey struct{}

type recordObserver struct {
	mu     sync.Mutex
	events []event
}

func (o *recordObserver) add(kind string, ctx context.Context, start time.Time, err error) {
	caller, _ := ctx.Value(ctxKey{}).(string)
	o.mu.Lock()
	o.events = append(o.events, event{kind, caller, time.Since(start), err})
	o.mu.Unlock()
}

func (o *recordObserver) QueueWait(ctx context.Context, start time.Time, err error) {
	o.add("wait", ctx, start, err)
}

func (o *recordObserver) ProcessStart(ctx context.Context, start time.Time, err error) {
	o.add("start", ctx, start, err)
}

func (o *recordObserver) take() []event {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.events
	o.events = nil
	return e
}

// TestObserver checks the reports of Options.Observer: a PerSession
// acquire starts its process on the caller's context without queueing; a
// PerUser acquire queues while its process starts in the background, and
// both reports carry the caller's context; a call granted at once is not
// reported; a call that waited for a slot is, with its wait.
func TestObserver(t *testing.T) {
	ctx := testCtx(t)
	t.Run("per_session", func(t *testing.T) {
		obs := &recordObserver{}
		p := newPool(t, Options{Isolation: PerSession, Observer: obs, InitializeParams: []byte(clientInit)})
		c, err := p.Acquire(context.WithValue(ctx, ctxKey{}, "acquirer"), "s1")
		if err != nil {
			t.Fatal(err)
		}
		ev := obs.take()
		if len(ev) != 1 || ev[0].kind != "start" || ev[0].caller != "acquirer" || ev[0].err != nil || ev[0].d <= 0 {
			t.Fatalf("acquire reported %+v, want one good start on the caller's context", ev)
		}
		if _, err := callText(ctx, t, c, "1", "echo", map[string]string{"text": "x"}); err != nil {
			t.Fatal(err)
		}
		if ev := obs.take(); len(ev) != 0 {
			t.Errorf("a call granted at once reported %+v", ev)
		}
	})
	t.Run("per_user", func(t *testing.T) {
		obs := &recordObserver{}
		p := newPool(t, Options{Isolation: PerUser, Observer: obs})
		if _, err := p.Acquire(context.WithValue(ctx, ctxKey{}, "acquirer"), "u1"); err != nil {
			t.Fatal(err)
		}
		// The start ends before the waiter is granted, but the waiter
		// may report first: its goroutine and the starter's race.
		ev := obs.take()
		var wait, start *event
		for i := range ev {
			switch ev[i].kind {
			case "wait":
				wait = &ev[i]
			case "start":
				start = &ev[i]
			}
		}
		if len(ev) != 2 || wait == nil || start == nil {
			t.Fatalf("acquire reported %+v, want a wait and a start", ev)
		}
		if wait.caller != "acquirer" || start.caller != "acquirer" || wait.err != nil || start.err != nil {
			t.Errorf("reports %+v and %+v: want both on the caller's context, without error", *wait, *start)
		}
		if wait.d < start.d {
			t.Errorf("queue wait %v shorter than the start %v it waited for", wait.d, start.d)
		}
	})
	t.Run("slot", func(t *testing.T) {
		obs := &recordObserver{}
		p := newPool(t, Options{Isolation: Shared, MaxProcesses: 1, MaxInFlight: 1, Observer: obs})
		c, err := p.Acquire(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		obs.take()
		slow, err := c.Call(ctx, toolCall(t, "1", "slow", map[string]int{"ms": 200}, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		if _, err := callText(context.WithValue(ctx, ctxKey{}, "second"), t, c, "2", "echo", map[string]string{"text": "x"}); err != nil {
			t.Fatal(err)
		}
		ev := obs.take()
		if len(ev) != 1 || ev[0].kind != "wait" || ev[0].caller != "second" || ev[0].err != nil || ev[0].d < 100*time.Millisecond {
			t.Errorf("queued call reported %+v, want one wait of about 200ms", ev)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		obs := &recordObserver{}
		p := newPool(t, Options{Isolation: Shared, MaxProcesses: 1, MaxInFlight: 1, QueueTimeout: 50 * time.Millisecond, Observer: obs})
		c, err := p.Acquire(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		obs.take()
		slow, err := c.Call(ctx, toolCall(t, "1", "slow", map[string]int{"ms": 60000}, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		_, err = c.Call(ctx, toolCall(t, "2", "echo", map[string]string{"text": "x"}, ""))
		if jsonrpcCode(err) != jsonrpc.CodeOverloaded {
			t.Fatalf("got %v, want CodeOverloaded", err)
		}
		ev := obs.take()
		if len(ev) != 1 || ev[0].kind != "wait" || jsonrpcCode(ev[0].err) != jsonrpc.CodeOverloaded {
			t.Errorf("timed-out call reported %+v, want one wait with CodeOverloaded", ev)
		}
	})
}
