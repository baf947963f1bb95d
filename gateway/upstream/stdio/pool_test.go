package stdio

import (
	"context"
	"errors"
	"fmt"

	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

func TestPassThroughSession(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{})
	c, err := p.Acquire(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if c.InitializeResult() != nil {
		t.Errorf("pass-through conn has an InitializeResult")
	}
	if _, err := p.Acquire(ctx, "s1"); !errors.Is(err, ErrKeyInUse) {
		t.Errorf("second Acquire of a live key: %v, want ErrKeyInUse", err)
	}
	handshake(ctx, t, c)

	// String id, pretty-printed with newlines: the id comes back as sent
	// and the newlines never reach the process as line breaks.
	call, err := c.Call(ctx, msg(t, "{\n \"jsonrpc\": \"2.0\",\n \"id\": \"req-\\n1\",\n \"method\": \"tools/call\",\n \"params\": {\"name\": \"echo\", \"arguments\": {\"text\": \"hi\\nthere\"}}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := drain(ctx, call)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.ID.Raw(), `"req-\n1"`; got != want {
		t.Errorf("response id %s, want %s", got, want)
	}
	if got, want := resultText(t, resp), "hi\nthere"; got != want {
		t.Errorf("echo = %q, want %q", got, want)
	}
	m, err := jsonrpc.Decode(resp.Raw, jsonrpc.Limits{})
	if err != nil || m.ID != resp.ID {
		t.Errorf("response Raw does not carry the client's id: %s (%v)", resp.Raw, err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(ctx, toolCall(t, "2", "echo", map[string]string{"text": "x"}, "")); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after Close: %v, want ErrClosed", err)
	}
	// The key is free again.
	c2, err := p.Acquire(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
}

func TestIsolationModes(t *testing.T) {
	pidOf := func(ctx context.Context, t *testing.T, c *Conn) string {
		s, err := callText(ctx, t, c, "1", "pid", struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		iso Isolation
		// Whether conns of the same key, and of different keys, share a
		// process.
		sameKey, otherKey bool
	}{
		{PerSession, false, false},
		{PerUser, true, false},
		{Shared, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.iso.String(), func(t *testing.T) {
			ctx := testCtx(t)
			o := Options{Isolation: tt.iso, InitializeParams: []byte(clientInit)}
			if tt.iso == Shared {
				o.MaxProcesses = 1
			}
			p := newPool(t, o)
			key := func(k string, n int) string {
				if tt.iso == PerSession {
					return k + strconv.Itoa(n) // session keys are unique
				}
				return k
			}
			a1, err := p.Acquire(ctx, key("alice", 1))
			if err != nil {
				t.Fatal(err)
			}
			a2, err := p.Acquire(ctx, key("alice", 2))
			if err != nil {
				t.Fatal(err)
			}
			b1, err := p.Acquire(ctx, key("bob", 1))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(a1.InitializeResult()), `"serverInfo"`) {
				t.Errorf("InitializeResult = %s", a1.InitializeResult())
			}
			// initialize is answered from the kept result.
			call, err := a1.Call(ctx, msg(t, `{"jsonrpc":"2.0","id":"i","method":"initialize","params":`+clientInit+`}`))
			if err != nil {
				t.Fatal(err)
			}
			_, resp, err := drain(ctx, call)
			if err != nil || string(resp.Result) != string(a1.InitializeResult()) || resp.ID.Raw() != `"i"` {
				t.Errorf("initialize answer %s, %v", resp.Raw, err)
			}
			pa1, pa2, pb1 := pidOf(ctx, t, a1), pidOf(ctx, t, a2), pidOf(ctx, t, b1)
			if got := pa1 == pa2; got != tt.sameKey {
				t.Errorf("same key shares a process: %v, want %v", got, tt.sameKey)
			}
			if got := pa1 == pb1; got != tt.otherKey {
				t.Errorf("other keys share a process: %v, want %v", got, tt.otherKey)
			}
			want := map[Isolation]int{PerSession: 3, PerUser: 2, Shared: 1}[tt.iso]
			if got := p.Stats().Processes; got != want {
				t.Errorf("%d processes, want %d", got, want)
			}
		})
	}
}

// TestCollidingIDs has many conns of one shared process use the same request
// id and the same progress token at once: every conn must get back exactly
// its own response and progress, with its own ids, and nothing else.
func TestCollidingIDs(t *testing.T) {
	for _, iso := range []Isolation{Shared, PerUser} {
		t.Run(iso.String(), func(t *testing.T) {
			ctx := testCtx(t)
			p := newPool(t, Options{Isolation: iso, MaxProcesses: 1})
			const n = 20
			conns := make([]*Conn, n)
			for i := range conns {
				c, err := p.Acquire(ctx, "same-user")
				if err != nil {
					t.Fatal(err)
				}
				conns[i] = c
			}
			setLogLevel(ctx, t, conns[0], "1")
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- collide(ctx, t, c, i)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func collide(ctx context.Context, t *testing.T, c *Conn, i int) error {
	tag := "conn-" + strconv.Itoa(i)
	for round := range 5 {
		call, err := c.Call(ctx, toolCall(t, "1", "progress", map[string]any{"steps": 3, "tag": tag}, `{"progressToken":"tok"}`))
		if err != nil {
			return err
		}
		msgs, resp, err := drain(ctx, call)
		if err != nil {
			return fmt.Errorf("%s round %d: %w", tag, round, err)
		}
		if resp.ID.Raw() != "1" {
			return fmt.Errorf("%s: response id %s", tag, resp.ID)
		}
		if got := resultText(t, resp); got != "done "+tag {
			return fmt.Errorf("%s got another conn's response %q", tag, got)
		}
		progress := 0
		for _, m := range msgs {
			if !strings.Contains(string(m.Params), `"`+tag+`"`) {
				return fmt.Errorf("%s got a message of another conn: %s", tag, m.Raw)
			}
			if m.Method == "notifications/progress" {
				progress++
				if !strings.Contains(string(m.Params), `"progressToken":"tok"`) {
					return fmt.Errorf("%s: progress token not restored: %s", tag, m.Raw)
				}
			}
		}
		if progress != 3 {
			return fmt.Errorf("%s: %d progress notifications, want 3", tag, progress)
		}
	}
	// Log messages that could not be attributed went to nobody or, for
	// PerUser, to one conn of the same user; never one of another tag
	// unless PerUser (same principal).
	for {
		select {
		case m := <-c.Unsolicited():
			if c.pool.o.Isolation == Shared {
				return fmt.Errorf("%s: shared conn got unattributable message %s", tag, m.Raw)
			}
		default:
			return nil
		}
	}
}

// Test200Concurrent: 200 clients at once, zero failures: on PerSession
// with fewer processes allowed than clients (the rest queue for a process),
// and on one Shared process with fewer in-flight slots than clients (the rest
// queue for a slot).
func Test200Concurrent(t *testing.T) {
	const clients = 200
	tests := []struct {
		iso                   Isolation
		maxProcs, maxInFlight int
		starts                uint64
	}{
		{PerSession, 16, 64, clients},
		{Shared, 1, 32, 1},
	}
	for _, tt := range tests {
		t.Run(tt.iso.String(), func(t *testing.T) {
			ctx := testCtx(t)
			p := newPool(t, Options{Isolation: tt.iso, MaxProcesses: tt.maxProcs, MaxInFlight: tt.maxInFlight, InitializeParams: []byte(clientInit)})
			var wg sync.WaitGroup
			var failures, peakProcs, peakQueue atomic.Int64
			peak := func(v *atomic.Int64, n int) {
				for {
					old := v.Load()
					if int64(n) <= old || v.CompareAndSwap(old, int64(n)) {
						return
					}
				}
			}
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := p.Acquire(ctx, "client-"+strconv.Itoa(i))
					if err != nil {
						t.Errorf("client %d: Acquire: %v", i, err)
						failures.Add(1)
						return
					}
					defer c.Close()
					text := "hello " + strconv.Itoa(i)
					for j := range 3 {
						s := p.Stats()
						peak(&peakProcs, s.Processes)
						peak(&peakQueue, s.Queued)
						got, err := callText(ctx, t, c, strconv.Itoa(j), "echo", map[string]string{"text": text})
						if err != nil || got != text {
							t.Errorf("client %d: echo = %q, %v", i, got, err)
							failures.Add(1)
							return
						}
					}
				}()
			}
			wg.Wait()
			if f := failures.Load(); f != 0 {
				t.Fatalf("%d of %d clients failed", f, clients)
			}
			if pk := peakProcs.Load(); pk > int64(tt.maxProcs) {
				t.Errorf("peak of %d processes, max %d", pk, tt.maxProcs)
			}
			if s := p.Stats(); s.Starts != tt.starts {
				t.Errorf("%d starts, want %d", s.Starts, tt.starts)
			}
			t.Logf("peak queue %d", peakQueue.Load())
		})
	}
}

func TestQueueFull(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{Isolation: Shared, MaxProcesses: 1, MaxInFlight: 1, MaxQueue: 1, QueueTimeout: time.Minute})
	c, err := p.Acquire(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	slow, err := c.Call(ctx, toolCall(t, "1", "slow", map[string]int{"ms": 60000}, ""))
	if err != nil {
		t.Fatal(err)
	}
	// The second call takes the only queue place...
	queued := make(chan error, 1)
	go func() {
		_, err := callText(ctx, t, c, "2", "echo", map[string]string{"text": "queued"})
		queued <- err
	}()
	for p.Stats().Queued != 1 {
		runtime.Gosched()
	}
	// ...so the third is refused at once, long before the queue timeout.
	start := time.Now()
	_, err = c.Call(ctx, toolCall(t, "3", "echo", map[string]string{"text": "x"}, ""))
	if code := jsonrpcCode(err); code != jsonrpc.CodeOverloaded {
		t.Fatalf("third call: %v, want CodeOverloaded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
	// Ending the slow call lets the queued one through.
	slow.Close()
	if err := <-queued; err != nil {
		t.Errorf("queued call: %v", err)
	}
}

func TestQueueTimeout(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{Isolation: Shared, MaxProcesses: 1, MaxInFlight: 1, QueueTimeout: 50 * time.Millisecond})
	c, err := p.Acquire(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	slow, err := c.Call(ctx, toolCall(t, "1", "slow", map[string]int{"ms": 60000}, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, err = c.Call(ctx, toolCall(t, "2", "echo", map[string]string{"text": "x"}, ""))
	if code := jsonrpcCode(err); code != jsonrpc.CodeOverloaded {
		t.Fatalf("got %v, want CodeOverloaded", err)
	}
	// A caller whose context ends while queued gets its context's error.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		for p.Stats().Queued != 1 {
			runtime.Gosched()
		}
		cancel()
	}()
	if _, err := c.Call(cctx, toolCall(t, "3", "echo", map[string]string{"text": "x"}, "")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while queued: %v", err)
	}
	if s := p.Stats(); s.Queued != 0 {
		t.Errorf("queue not empty: %+v", s)
	}
}

func TestCrashAndRestart(t *testing.T) {
	t.Run("per_user", func(t *testing.T) {
		ctx := testCtx(t)
		p := newPool(t, Options{Isolation: PerUser, RestartBackoffMin: 10 * time.Millisecond})
		c, err := p.Acquire(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		pid1, _ := callText(ctx, t, c, "1", "pid", struct{}{})
		slow, err := c.Call(ctx, toolCall(t, "2", "slow", map[string]int{"ms": 60000}, ""))
		if err != nil {
			t.Fatal(err)
		}
		_, err = callText(ctx, t, c, "3", "crash", struct{}{})
		if code := jsonrpcCode(err); code != jsonrpc.CodeUpstreamUnavailable {
			t.Errorf("crashing call: %v, want CodeUpstreamUnavailable", err)
		}
		// The other call in flight fails too, at once.
		if _, _, err := drain(ctx, slow); jsonrpcCode(err) != jsonrpc.CodeUpstreamUnavailable {
			t.Errorf("call in flight during the crash: %v, want CodeUpstreamUnavailable", err)
		}
		// The next call restarts the process.
		pid2, err := callText(ctx, t, c, "4", "pid", struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		if pid1 == pid2 {
			t.Errorf("same pid %s after a crash", pid1)
		}
		if s := p.Stats(); s.Starts != 2 || s.Crashes != 1 {
			t.Errorf("stats %+v, want 2 starts and 1 crash", s)
		}
	})
	t.Run("per_session", func(t *testing.T) {
		ctx := testCtx(t)
		p := newPool(t, Options{InitializeParams: []byte(clientInit)})
		c, err := p.Acquire(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := callText(ctx, t, c, "1", "crash", struct{}{}); jsonrpcCode(err) != jsonrpc.CodeUpstreamUnavailable {
			t.Errorf("crashing call: %v", err)
		}
		<-c.Done()
		if _, err := c.Call(ctx, toolCall(t, "2", "echo", map[string]string{"text": "x"}, "")); !errors.Is(err, ErrGone) {
			t.Errorf("Call on a dead session: %v, want ErrGone", err)
		}
		if err := c.Send(ctx, msg(t, `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`)); !errors.Is(err, ErrGone) {
			t.Errorf("Send on a dead session: %v, want ErrGone", err)
		}
		if _, ok := <-c.Unsolicited(); ok {
			t.Error("Unsolicited not closed")
		}
		// The key can start a new session.
		c2, err := p.Acquire(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		c2.Close()
	})
}

// TestCrashLoop: a server that dies at once is not restarted in a loop.
func TestCrashLoop(t *testing.T) {
	for _, iso := range []Isolation{Shared, PerUser, PerSession} {
		t.Run(iso.String(), func(t *testing.T) {
			ctx := testCtx(t)
			p := newPool(t, Options{
				Isolation:         iso,
				InitializeParams:  []byte(clientInit),
				RestartBackoffMin: 200 * time.Millisecond,
				QueueTimeout:      20 * time.Millisecond,
			}, "-exit-at-start")
			start := time.Now()
			attempts := 0
			for time.Since(start) < 500*time.Millisecond {
				attempts++
				_, err := p.Acquire(ctx, "k"+strconv.Itoa(attempts))
				// Unavailable while the upstream backs off; Overloaded when
				// the 20ms queue deadline passes while a (slow, loaded
				// machine) start is still under way. Never success.
				if code := jsonrpcCode(err); code != jsonrpc.CodeUpstreamUnavailable && code != jsonrpc.CodeOverloaded {
					t.Fatalf("attempt %d: %v, want CodeUpstreamUnavailable or CodeOverloaded", attempts, err)
				}
			}
			// Failed starts at about 0, 200ms and 600ms (doubling). On a
			// loaded machine a start can still be under way when the next
			// attempt (another key) gives up after its 20ms queue deadline
			// and a second start begins before the first has failed: allow
			// a few more, far from a restart per attempt.
			if s := p.Stats(); s.Starts > 5 || attempts < 10 {
				t.Errorf("%d starts for %d attempts in %v", s.Starts, attempts, time.Since(start))
			}
		})
	}
}

func TestIdleReaping(t *testing.T) {
	t.Run("per_session", func(t *testing.T) {
		ctx := testCtx(t)
		p := newPool(t, Options{IdleTimeout: 50 * time.Millisecond, InitializeParams: []byte(clientInit)})
		c, err := p.Acquire(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := callText(ctx, t, c, "1", "echo", map[string]string{"text": "x"}); err != nil {
			t.Fatal(err)
		}
		<-c.Done() // the idle session ends
		if _, err := c.Call(ctx, toolCall(t, "2", "echo", map[string]string{"text": "x"}, "")); !errors.Is(err, ErrGone) {
			t.Errorf("Call after idle reaping: %v, want ErrGone", err)
		}
	})
	t.Run("shared", func(t *testing.T) {
		ctx := testCtx(t)
		exited := make(chan int, 4)
		p := newPool(t, Options{Isolation: Shared, IdleTimeout: 50 * time.Millisecond})
		hook := p.onExit
		p.onExit = func(pid int) { hook(pid); exited <- pid }
		c, err := p.Acquire(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		// A call that outlasts the idle timeout is not reaped.
		if got, err := callText(ctx, t, c, "1", "slow", map[string]int{"ms": 200}); got != "slept" || err != nil {
			t.Fatalf("slow call: %q %v", got, err)
		}
		pid1, _ := callText(ctx, t, c, "2", "pid", struct{}{})
		if got := strconv.Itoa(<-exited); got != pid1 {
			t.Fatalf("exited pid %s, want %s", got, pid1)
		}
		if s := p.Stats(); s.Crashes != 0 {
			t.Errorf("idle stop counted as a crash: %+v", s)
		}
		// The conn survives; the next call starts a process.
		pid2, err := callText(ctx, t, c, "3", "pid", struct{}{})
		if err != nil || pid2 == pid1 {
			t.Errorf("after reaping: pid %s (was %s), %v", pid2, pid1, err)
		}
	})
}

func TestCancellation(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{InitializeParams: []byte(clientInit)})
	c, err := p.Acquire(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	// waitCancelled asks the server how many slow calls it saw cancelled,
	// until it has seen n (the cancellation and the question race inside
	// the server).
	waitCancelled := func(n int) {
		t.Helper()
		want := strconv.Itoa(n)
		for i := 0; ; i++ {
			got, err := callText(ctx, t, c, `"q`+strconv.Itoa(i)+`"`, "cancelled", struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			if got == want {
				return
			}
		}
	}

	// started waits for the slow tool's "started" progress notification.
	started := func(call *Call) {
		t.Helper()
		m, err := call.Next(ctx)
		if err != nil || m.Method != "notifications/progress" {
			t.Fatalf("slow call did not start: %v %v", m, err)
		}
	}
	t.Run("context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		call, err := c.Call(cctx, toolCall(t, "1", "slow", map[string]int{"ms": 60000}, `{"progressToken":1}`))
		if err != nil {
			t.Fatal(err)
		}
		started(call)
		cancel()
		if _, err := call.Next(ctx); !errors.Is(err, ErrCancelled) {
			t.Errorf("Next after cancel: %v, want ErrCancelled", err)
		}
		waitCancelled(1)
	})
	t.Run("deadline", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		call, err := c.Call(dctx, toolCall(t, "2", "slow", map[string]int{"ms": 60000}, `{"progressToken":1}`))
		if err != nil {
			t.Fatal(err)
		}
		started(call)
		if _, err := call.Next(ctx); jsonrpcCode(err) != jsonrpc.CodeUpstreamTimeout {
			t.Errorf("Next after the deadline: %v, want CodeUpstreamTimeout", err)
		}
		waitCancelled(2)
	})
	t.Run("notification", func(t *testing.T) {
		call, err := c.Call(ctx, toolCall(t, `"x"`, "slow", map[string]int{"ms": 60000}, `{"progressToken":1}`))
		if err != nil {
			t.Fatal(err)
		}
		started(call)
		if err := c.Send(ctx, msg(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x","reason":"bored"}}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := call.Next(ctx); !errors.Is(err, ErrCancelled) {
			t.Errorf("Next after notifications/cancelled: %v, want ErrCancelled", err)
		}
		waitCancelled(3)
		// The id is free again.
		if got, err := callText(ctx, t, c, `"x"`, "echo", map[string]string{"text": "again"}); got != "again" || err != nil {
			t.Errorf("reusing a cancelled id: %q %v", got, err)
		}
	})
	// Late responses of the cancelled calls went nowhere.
	select {
	case m := <-c.Unsolicited():
		t.Errorf("late message delivered: %s", m.Raw)
	default:
	}
	if s := p.Stats(); s.InFlight != 0 {
		t.Errorf("slots not released: %+v", s)
	}
}

func TestDuplicateInFlightID(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{InitializeParams: []byte(clientInit)})
	c, err := p.Acquire(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	call, err := c.Call(ctx, toolCall(t, "7", "slow", map[string]int{"ms": 60000}, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer call.Close()
	if _, err := c.Call(ctx, toolCall(t, "7", "echo", map[string]string{"text": "x"}, "")); jsonrpcCode(err) != jsonrpc.CodeInvalidRequest {
		t.Errorf("duplicate id: %v, want CodeInvalidRequest", err)
	}
}

func TestServerToClientRequest(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{})
	c, err := p.Acquire(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	handshake(ctx, t, c)
	call, err := c.Call(ctx, toolCall(t, "1", "elicit", map[string]string{"text": "favourite colour?"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	req, err := call.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if req.Kind != jsonrpc.KindRequest || req.Method != "elicitation/create" {
		t.Fatalf("got %s, want an elicitation request", req.Raw)
	}
	if err := c.Send(ctx, msg(t, `{"jsonrpc":"2.0","id":999,"result":{"action":"accept","content":{}}}`)); !errors.Is(err, ErrUnknownRequest) {
		t.Errorf("response to an unknown request: %v, want ErrUnknownRequest", err)
	}
	if err := c.Send(ctx, msg(t, `{"jsonrpc":"2.0","id":`+req.ID.Raw()+`,"result":{"action":"decline"}}`)); err != nil {
		t.Fatal(err)
	}
	// A second answer to the same request is refused.
	if err := c.Send(ctx, msg(t, `{"jsonrpc":"2.0","id":`+req.ID.Raw()+`,"result":{"action":"decline"}}`)); !errors.Is(err, ErrUnknownRequest) {
		t.Errorf("second response: %v, want ErrUnknownRequest", err)
	}
	_, resp, err := drain(ctx, call)
	if err != nil {
		t.Fatal(err)
	}
	if got := resultText(t, resp); got != "elicit decline" {
		t.Errorf("got %q", got)
	}
}

// TestSharedServerRequests: in Shared mode a server-to-client request goes to
// the single call in flight, and is refused (never broadcast) when several
// conns have calls in flight.
func TestSharedServerRequests(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{Isolation: Shared, MaxProcesses: 1, InitializeParams: []byte(clientInit)})
	a, _ := p.Acquire(ctx, "a")
	b, _ := p.Acquire(ctx, "b")

	call, err := a.Call(ctx, toolCall(t, "1", "elicit", map[string]string{"text": "q"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	req, err := call.Next(ctx)
	if err != nil || req.Method != "elicitation/create" {
		t.Fatalf("%v %v", req, err)
	}
	if err := b.Send(ctx, msg(t, `{"jsonrpc":"2.0","id":`+req.ID.Raw()+`,"result":{"action":"accept","content":{}}}`)); !errors.Is(err, ErrUnknownRequest) {
		t.Errorf("another conn answered the request: %v", err)
	}
	if err := a.Send(ctx, msg(t, `{"jsonrpc":"2.0","id":`+req.ID.Raw()+`,"result":{"action":"accept","content":{}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := drain(ctx, call); err != nil || resultText(t, resp) != "elicit accept" {
		t.Fatalf("%v %v", resp, err)
	}

	// Two conns with calls in flight: the elicitation cannot be attributed.
	slow, err := b.Call(ctx, toolCall(t, "2", "slow", map[string]int{"ms": 60000}, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	got, err := callText(ctx, t, a, "3", "elicit", map[string]string{"text": "q"})
	if err != nil || !strings.Contains(got, "no client to route") {
		t.Errorf("unattributable elicitation: %q %v", got, err)
	}
}

func TestUnsolicited(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{InitializeParams: []byte(clientInit)})
	c, err := p.Acquire(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := callText(ctx, t, c, "1", "touch_tools", map[string]string{"text": "a"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Unsolicited():
		if m.Method != "notifications/tools/list_changed" {
			t.Errorf("got %s", m.Raw)
		}
	case <-ctx.Done():
		t.Fatal("no list_changed notification")
	}
}

func TestSlowReader(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{Isolation: PerUser, MaxCallBuffer: 1024})
	c, err := p.Acquire(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.Acquire(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	pid1, _ := callText(ctx, t, other, "1", "pid", struct{}{})
	call, err := c.Call(ctx, toolCall(t, "1", "progress", map[string]any{"steps": 200, "tag": "flood"}, `{"progressToken":1}`))
	if err != nil {
		t.Fatal(err)
	}
	<-call.Done() // nobody reads
	msgs, _, err := drain(ctx, call)
	if code := jsonrpcCode(err); code != jsonrpc.CodeOverloaded {
		t.Fatalf("overflowing call: %v, want CodeOverloaded", err)
	}
	if len(msgs) == 0 || len(msgs) > 20 {
		t.Errorf("%d messages kept before the overflow", len(msgs))
	}
	// The process and the other conn carry on.
	pid2, err := callText(ctx, t, other, "2", "pid", struct{}{})
	if err != nil || pid2 != pid1 {
		t.Errorf("after the overflow: pid %s (was %s), %v", pid2, pid1, err)
	}
}

func TestMisbehavingOutput(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		ctx := testCtx(t)
		p := newPool(t, Options{Isolation: PerUser})
		c, _ := p.Acquire(ctx, "u")
		pid1, _ := callText(ctx, t, c, "1", "pid", struct{}{})
		got, err := callText(ctx, t, c, "2", "garbage", struct{}{})
		if err != nil || got != "after garbage" {
			t.Fatalf("got %q %v", got, err)
		}
		if pid2, _ := callText(ctx, t, c, "3", "pid", struct{}{}); pid2 != pid1 {
			t.Errorf("process replaced after garbage output")
		}
	})
	t.Run("long line", func(t *testing.T) {
		ctx := testCtx(t)
		p := newPool(t, Options{Isolation: PerUser, MaxMessageSize: 4096, RestartBackoffMin: time.Millisecond})
		c, _ := p.Acquire(ctx, "u")
		pid1, _ := callText(ctx, t, c, "1", "pid", struct{}{})
		if _, err := callText(ctx, t, c, "2", "longline", map[string]int{"bytes": 10000}); jsonrpcCode(err) != jsonrpc.CodeUpstreamUnavailable {
			t.Fatalf("call during an over-long line: %v", err)
		}
		pid2, err := callText(ctx, t, c, "3", "pid", struct{}{})
		if err != nil || pid2 == pid1 {
			t.Errorf("after over-long line: pid %s (was %s) %v", pid2, pid1, err)
		}
	})
}

// recordHandler sends every log record to a channel.
type recordHandler struct{ ch chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r:
	default:
	}
	return nil
}
func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return attrsHandler{h, as}
}
func (h recordHandler) WithGroup(string) slog.Handler { return h }

type attrsHandler struct {
	recordHandler
	as []slog.Attr
}

func (h attrsHandler) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.as...)
	return h.recordHandler.Handle(ctx, r)
}
func (h attrsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return attrsHandler{h.recordHandler, append(append([]slog.Attr{}, h.as...), as...)}
}

func TestStderrLogged(t *testing.T) {
	ctx := testCtx(t)
	ch := make(chan slog.Record, 256)
	p := newPool(t, Options{Isolation: PerUser, Name: "test-upstream", Logger: slog.New(recordHandler{ch})})
	c, _ := p.Acquire(ctx, "u")
	pid, _ := callText(ctx, t, c, "1", "pid", struct{}{})
	long := strings.Repeat("y", 3000)
	if _, err := callText(ctx, t, c, "2", "stderr", map[string]string{"text": "hello from stderr"}); err != nil {
		t.Fatal(err)
	}
	if _, err := callText(ctx, t, c, "3", "stderr", map[string]string{"text": long}); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"line": "hello from stderr", "pid": pid, "upstream": "test-upstream", "truncated": "false"},
		{"line": long[:maxStderrLine], "pid": pid, "upstream": "test-upstream", "truncated": "true"},
	}
	var got []map[string]string
	for len(got) < len(want) {
		select {
		case r := <-ch:
			if r.Message != "stdio process stderr" {
				continue
			}
			m := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
			got = append(got, m)
		case <-ctx.Done():
			t.Fatalf("stderr lines not logged; got %v", got)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stderr records (-want +got):\n%s", d)
	}
}

func TestShutdownKillsGroup(t *testing.T) {
	ctx := testCtx(t)
	p, err := New(Options{
		Command:          []string{serverBin, "-ignore-sigterm"},
		InitializeParams: []byte(clientInit),
		ShutdownGrace:    200 * time.Millisecond,
		Logger:           testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Acquire(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := callText(ctx, t, c, "1", "pid", struct{}{})
	child, err := callText(ctx, t, c, "2", "spawn", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	// A call still in flight when Close's drain deadline passes.
	slow, err := c.Call(ctx, toolCall(t, "3", "slow", map[string]int{"ms": 60000}, ""))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a call in flight past its deadline: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, _, err := drain(ctx, slow); jsonrpcCode(err) != jsonrpc.CodeUpstreamUnavailable {
		t.Errorf("call in flight at Close: %v", err)
	}
	for _, s := range []string{pid, child} {
		n, _ := strconv.Atoi(s)
		if !waitGone(t, n, 5*time.Second) {
			t.Errorf("process %d survived Close", n)
		}
	}
	if _, err := p.Acquire(ctx, "s2"); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Close: %v", err)
	}
}

// TestGraceful: Close lets calls in flight finish, SIGTERM-ignoring servers
// get SIGKILL after the grace, and a grandchild holding stdout dies with the
// group even when the leader crashes.
func TestGraceful(t *testing.T) {
	ctx := testCtx(t)
	p, err := New(Options{Command: []string{serverBin, "-ignore-sigterm"}, Isolation: PerUser, ShutdownGrace: 100 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := p.Acquire(ctx, "u")
	child, err := callText(ctx, t, c, "1", "spawn", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	// The leader crashes; the grandchild still holds stdout, but the
	// group kill ends it and the calls in flight fail at once.
	if _, err := callText(ctx, t, c, "2", "crash", struct{}{}); jsonrpcCode(err) != jsonrpc.CodeUpstreamUnavailable {
		t.Errorf("crash: %v", err)
	}
	n, _ := strconv.Atoi(child)
	if !waitGone(t, n, 5*time.Second) {
		t.Errorf("grandchild %d survived its leader", n)
	}

	call, err := c.Call(ctx, toolCall(t, "3", "slow", map[string]int{"ms": 100}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, resp, err := drain(ctx, call); err != nil || resultText(t, resp) != "slept" {
		t.Errorf("call in flight at Close did not finish: %v %v", resp, err)
	}
}

func TestNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := context.Background()
	for _, iso := range []Isolation{PerSession, PerUser, Shared} {
		p, err := New(Options{Command: []string{serverBin}, Isolation: iso, InitializeParams: []byte(clientInit), IdleTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			c, err := p.Acquire(ctx, "k"+strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := callText(ctx, t, c, "1", "echo", map[string]string{"text": "x"}); err != nil {
				t.Fatal(err)
			}
			call, err := c.Call(ctx, toolCall(t, "2", "progress", map[string]any{"steps": 2}, `{"progressToken":"p"}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := drain(ctx, call); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				c.Close()
			}
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Close has waited for every goroutine of the pools to call Done; give
	// those still returning from their last function the chance to exit.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestZombies(t *testing.T) {
	// Every child of this test process has been reaped by now: none of the
	// pools' processes is left as a zombie child.
	entries, _ := readChildren()
	for _, pid := range entries {
		t.Errorf("unreaped child %d", pid)
	}
}

// readChildren lists zombie children of this process.
func readChildren() ([]int, error) {
	var zombies []int
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err != nil || pid <= 0 {
			return zombies, err
		}
		zombies = append(zombies, pid)
	}
}

// TestHungProcess: a process that neither answers nor reads is given up on
// within StartTimeout or WriteTimeout, and killed.
func TestHungProcess(t *testing.T) {
	t.Run("initialize", func(t *testing.T) {
		ctx := testCtx(t)
		p := newPool(t, Options{Command: []string{"sleep", "3600"}, Isolation: Shared, StartTimeout: 100 * time.Millisecond})
		start := time.Now()
		if _, err := p.Acquire(ctx, "k"); jsonrpcCode(err) != jsonrpc.CodeUpstreamUnavailable {
			t.Fatalf("Acquire: %v, want CodeUpstreamUnavailable", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %v", d)
		}
	})
	t.Run("write", func(t *testing.T) {
		ctx := testCtx(t)
		p := newPool(t, Options{Command: []string{"sleep", "3600"}, WriteTimeout: 100 * time.Millisecond})
		c, err := p.Acquire(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		// More than a pipe buffer: the write blocks.
		big := toolCall(t, "1", "echo", map[string]string{"text": strings.Repeat("x", 1<<20)}, "")
		if _, err := c.Call(ctx, big); jsonrpcCode(err) != jsonrpc.CodeUpstreamUnavailable {
			t.Fatalf("Call: %v, want CodeUpstreamUnavailable", err)
		}
		<-c.Done()
	})
}
