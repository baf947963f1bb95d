package stdio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// routingFixture is a process without an OS process: what it "writes" goes
// nowhere, what it "reads" is fed to handleLine. Two conns have calls in
// flight, with colliding client ids and progress tokens.
type routingFixture struct {
	p     *Pool
	pr    *process
	conns []*Conn
	calls []*Call
}

func newRoutingFixture(t testing.TB, iso Isolation, callsPerConn int) *routingFixture {
	p, err := New(Options{Command: []string{"/bin/sh"}, Isolation: iso, MaxCallBuffer: 4096, UnsolicitedBuffer: 8, IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	f := &routingFixture{p: p, pr: newProcess(p, nopWriteCloser{io.Discard})}
	for i := range 2 {
		c := newConn(p, "k")
		if iso == PerSession && i == 1 {
			break // a PerSession process has one conn
		}
		f.conns = append(f.conns, c)
		if iso == PerSession {
			f.pr.sess = c
		}
		for range callsPerConn {
			call := newCall(c, jsonrpc.Int64ID(1), "tools/call", p.o.MaxCallBuffer)
			call.origToken = []byte(`"tok"`)
			if !f.pr.register(call) {
				t.Fatal("register failed")
			}
			p.mu.Lock()
			p.inflight++
			f.pr.inflight++
			p.mu.Unlock()
			c.calls[call.origID] = call
			f.calls = append(f.calls, call)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // calls are still in flight: no drain
		p.Close(ctx)
	})
	return f
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// received drains what the fixture's conns and calls got, by conn index.
func (f *routingFixture) received() map[int][]*jsonrpc.Message {
	out := map[int][]*jsonrpc.Message{}
	for i, c := range f.conns {
		for _, call := range f.calls {
			if call.conn != c {
				continue
			}
			call.mu.Lock()
			out[i] = append(out[i], call.queue...)
			if call.resp != nil {
				out[i] = append(out[i], call.resp)
			}
			call.mu.Unlock()
		}
	drain:
		for {
			select {
			case m := <-c.unsolicited:
				out[i] = append(out[i], m)
			default:
				break drain
			}
		}
	}
	return out
}

func TestRouting(t *testing.T) {
	lines := strings.Join([]string{
		// Responses by process id: call 1 is conn 0's, call 3 conn 1's.
		`{"jsonrpc":"2.0","id":1,"result":{"n":"first"}}`,
		`{"jsonrpc":"2.0","id":"3","result":{"n":"third"}}`, // an id echoed as a string
		`{"jsonrpc":"2.0","id":99,"result":{}}`,
		// Progress by token: 2 is conn 0's second call, 4 conn 1's.
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":1}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":4,"progress":1}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":1}}`,
		// Unattributable with calls of both conns in flight.
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`,
	}, "\n")
	f := newRoutingFixture(t, Shared, 2)
	for _, l := range strings.Split(lines, "\n") {
		f.pr.handleLine([]byte(l))
	}
	got := f.received()
	want := map[int][]string{
		0: {`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":1}}`, `{"jsonrpc":"2.0","id":1,"result":{"n":"first"}}`},
		1: {`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":1}}`, `{"jsonrpc":"2.0","id":1,"result":{"n":"third"}}`},
	}
	for i, w := range want {
		var g []string
		for _, m := range got[i] {
			g = append(g, string(m.Raw))
		}
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			// Order across calls is by call, not arrival; compare as sets.
			if len(g) != len(w) || !sameSet(g, w) {
				t.Errorf("conn %d got\n%s\nwant\n%s", i, strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		}
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// FuzzStdout feeds arbitrary process output through framing, parsing and
// routing. Nothing may panic, nothing may be delivered twice, and a conn
// only ever sees responses and progress with its own ids and tokens.
func FuzzStdout(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":1}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		`{"jsonrpc":"2.0","id":5,"method":"elicitation/create","params":{}}`,
		`{"jsonrpc":"2.0","id":"p","method":"ping"}`,
		`[{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"m"}},{"jsonrpc":"2.0","method":"x"}]`,
		"garbage\n\xff\n",
	} {
		f.Add([]byte(s+"\n"), uint8(0))
	}
	f.Fuzz(func(t *testing.T, out []byte, mode uint8) {
		iso := Isolation(mode % 3)
		fx := newRoutingFixture(t, iso, 2)
		lr := newLineReader(bytes.NewReader(out), 1024)
		parsed := 0
		for {
			line, err := lr.next()
			if err != nil {
				break
			}
			if ms, err := parseLine(line); err == nil {
				parsed += len(ms)
			}
			fx.pr.handleLine(line)
		}
		got := fx.received()
		total := 0
		for i, ms := range got {
			total += len(ms)
			for _, m := range ms {
				switch {
				case m.Kind == jsonrpc.KindResponse && m.ID.Raw() != "1":
					t.Fatalf("conn %d got a response with a process id: %s", i, m.Raw)
				case m.Method == "notifications/progress" && !bytes.Contains(m.Raw, []byte(`"progressToken":"tok"`)):
					t.Fatalf("conn %d got progress with a process token: %s", i, m.Raw)
				}
			}
		}
		if total > parsed {
			t.Fatalf("%d deliveries for %d messages", total, parsed)
		}
	})
}

// TestRoutingSubscription: listen-stream notifications go to the listen
// call their subscriptionId names, with the client's id put back, never to
// another conn, even with calls of several conns in flight.
func TestRoutingSubscription(t *testing.T) {
	f := newRoutingFixture(t, Shared, 2)
	for _, l := range []string{
		// Process id 3 is conn 1's first call.
		`{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":3}}}`,
		`{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"3"},"notifications":{}}}`,
		// Unknown subscriptions are dropped, not guessed.
		`{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":42}}}`,
	} {
		f.pr.handleLine([]byte(l))
	}
	got := f.received()
	if len(got[0]) != 0 {
		t.Fatalf("conn 0 got another conn's subscription messages: %v", got[0])
	}
	if len(got[1]) != 2 {
		t.Fatalf("conn 1 got %d messages, want 2", len(got[1]))
	}
	for _, m := range got[1] {
		if !bytes.Contains(m.Raw, []byte(`"io.modelcontextprotocol/subscriptionId":1`)) {
			t.Fatalf("subscription id not restored to the client's: %s", m.Raw)
		}
	}
}

// TestListenAfterCancelledListen closes a subscriptions/listen and opens
// the next one at once on the same conn (one server session), as a client
// that reconnects does, then changes the tool list: the new listen must
// be told. The test server keeps subscriptions per session and drops them
// all when a listen ends, so without the pool ordering the two listens the
// cleanup of the first races with the registration of the second; the
// rounds make that race show.
func TestListenAfterCancelledListen(t *testing.T) {
	p := newPool(t, Options{Isolation: PerSession})
	ctx := testCtx(t)
	c, err := p.Acquire(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	const meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}`
	listen := func(id string) *Call {
		t.Helper()
		l, err := c.Call(ctx, msg(t, `{"jsonrpc":"2.0","id":"`+id+`","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},`+meta+`}}`))
		if err != nil {
			t.Fatal(err)
		}
		if m, err := l.Next(ctx); err != nil || m.Method != "notifications/subscriptions/acknowledged" {
			t.Fatalf("listen %s: %v %v", id, m, err)
		}
		return l
	}
	prev := listen("l0")
	for round := 1; round <= 10; round++ {
		prev.Close()
		l := listen(fmt.Sprint("l", round))
		if _, err := callText(ctx, t, c, fmt.Sprint(`"t`, round, `"`), "touch_tools", map[string]string{"text": fmt.Sprint(round)}); err != nil {
			t.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := l.Next(wait)
		cancel()
		if err != nil || m.Method != "notifications/tools/list_changed" || !bytes.Contains(m.Raw, []byte(`subscriptionId":"l`+fmt.Sprint(round)+`"`)) {
			t.Fatalf("round %d: the listen opened after a closed one got %s, %v", round, raw(m), err)
		}
		prev = l
	}
	prev.Close()
}

func raw(m *jsonrpc.Message) []byte {
	if m == nil {
		return nil
	}
	return m.Raw
}

// TestRoutingSessionWide checks that a list change or a resource update
// written while exactly one call is in flight goes to the conn's
// unsolicited queue (a legacy session's GET stream), not to the call,
// while a log message still goes to the call.
func TestRoutingSessionWide(t *testing.T) {
	f := newRoutingFixture(t, PerSession, 1)
	lines := []string{
		`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`,
		`{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}`,
		`{"jsonrpc":"2.0","method":"notifications/resources/list_changed"}`,
		`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"test://x"}}`,
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`,
	}
	for _, l := range lines {
		f.pr.handleLine([]byte(l))
	}
	var unsolicited []string
	for len(f.conns[0].unsolicited) > 0 {
		unsolicited = append(unsolicited, string((<-f.conns[0].unsolicited).Raw))
	}
	if strings.Join(unsolicited, "\n") != strings.Join(lines[:4], "\n") {
		t.Errorf("unsolicited:\n%s\nwant\n%s", strings.Join(unsolicited, "\n"), strings.Join(lines[:4], "\n"))
	}
	call := f.calls[0]
	call.mu.Lock()
	defer call.mu.Unlock()
	if len(call.queue) != 1 || string(call.queue[0].Raw) != lines[4] {
		t.Errorf("the call got %d messages, want the log message only", len(call.queue))
	}
}
