package audit_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	mcpproto "github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

// batchSink notes the number of records of each append, and reports each
// append written on appended.
type batchSink struct {
	audit.Sink
	mu       sync.Mutex
	sizes    []int
	appended chan int
}

func newBatchSink(t *testing.T) *batchSink {
	return &batchSink{Sink: open(t, storagetest.SQLite(t), nil), appended: make(chan int, 16)}
}

func (s *batchSink) Append(ctx context.Context, recs []audit.Record) error {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(recs))
	s.mu.Unlock()
	err := s.Sink.Append(ctx, recs)
	if err == nil {
		select {
		case s.appended <- len(recs):
		default:
		}
	}
	return err
}

func (s *batchSink) batches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

// toolCall is a 2026-07-28 tools/call as the gateway hands it to the
// policies.
func toolCall(t *testing.T, id int64) *gateway.Call {
	t.Helper()
	m, err := jsonrpc.Decode(jsonrpc.AppendRequest(nil, jsonrpc.Int64ID(id), mcpproto.MethodToolsCall, []byte(`{"name":"echo","arguments":{"text":"hi"}}`)), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := mcpproto.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "files", Era: mcpproto.EraModern, Version: mcpproto.Version20260728, Msg: m, Params: p}
}

// heldUpstream answers every call once release is closed, and reports
// each call it receives on arrived.
func heldUpstream(arrived chan<- string, release <-chan struct{}) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		arrived <- c.Msg.ID.Raw()
		<-release
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(`{"content":[{"type":"text","text":"hi"}]}`))), nil
	}
}

// answer makes the call through h and reads its reply to the end, as the
// gateway relays it; it reports on done.
func answer(t *testing.T, h gateway.Handler, c *gateway.Call, done chan<- error) {
	ctx := context.Background()
	r, err := h(ctx, c)
	if err != nil {
		done <- err
		return
	}
	defer r.Close()
	if _, err := gateway.FinalResult(ctx, r); err != nil {
		done <- err
		return
	}
	done <- nil
}

func waitDone(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not answered", what)
	}
}

// TestConcurrentCallsShareATransaction: the records of calls under way at
// once are written in one transaction, each response still waiting for
// its record.
func TestConcurrentCallsShareATransaction(t *testing.T) {
	sink := newBatchSink(t)
	// A wait no test reaches: the writer must stop waiting because every
	// call's record is in.
	l, err := audit.New(audit.Options{Sink: sink, ShareWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	arrived, release := make(chan string, n), make(chan struct{})
	h := l.Wrap(heldUpstream(arrived, release))
	done := make(chan error, n)
	for i := range n {
		go answer(t, h, toolCall(t, int64(i+1)), done)
	}
	for range n {
		<-arrived
	}
	close(release)
	for i := range n {
		waitDone(t, done, fmt.Sprint("call ", i))
	}
	if got := sink.batches(); !slices.Equal(got, []int{n}) {
		t.Errorf("records per transaction: %v, want one transaction of %d", got, n)
	}
	if s := l.Stats(); s.Written != n || s.Batches != 1 {
		t.Errorf("stats: %+v", s)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestShareWaitIsBounded: a lone call is not held for calls that are not
// under way, a call that stays under way holds another's record no
// longer than ShareWait, and a call under way since before the last
// transaction does not hold back the next ones.
func TestShareWaitIsBounded(t *testing.T) {
	sink := newBatchSink(t)
	l, err := audit.New(audit.Options{Sink: sink, ShareWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	arrived, release := make(chan string, 2), make(chan struct{})
	close(release)
	done := make(chan error, 2)
	go answer(t, l.Wrap(heldUpstream(arrived, release)), toolCall(t, 1), done)
	waitDone(t, done, "a lone call")
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	sink = newBatchSink(t)
	l, err = audit.New(audit.Options{Sink: sink, ShareWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	go answer(t, l.Wrap(heldUpstream(arrived, held)), toolCall(t, 2), done)
	<-arrived
	other := make(chan error, 1)
	go answer(t, l.Wrap(heldUpstream(arrived, release)), toolCall(t, 3), other)
	waitDone(t, other, "a call while another is under way")
	select {
	case err := <-done:
		t.Fatalf("the held call ended: %v", err)
	default:
	}
	close(held)
	waitDone(t, done, "the held call")
	if got := sink.batches(); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("records per transaction: %v", got)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestLongCallDoesNotHoldBack: once a transaction has been written while
// a call was under way (a long stream, say), later calls do not wait for
// that call's record.
func TestLongCallDoesNotHoldBack(t *testing.T) {
	sink := newBatchSink(t)
	// A wait no test reaches: the call below must not wait at all.
	l, err := audit.New(audit.Options{Sink: sink, ShareWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	arrived, held, release := make(chan string, 2), make(chan struct{}), make(chan struct{})
	close(release)
	long := make(chan error, 1)
	go answer(t, l.Wrap(heldUpstream(arrived, held)), toolCall(t, 1), long)
	<-arrived
	// A record no response waits for: written at once, while the long
	// call is under way.
	if err := l.Add(audit.Record{Server: "files", Method: "ping", Decision: audit.Allow, Status: audit.StatusOK}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.appended:
	case <-time.After(30 * time.Second):
		t.Fatal("the record was not written")
	}
	done := make(chan error, 1)
	go answer(t, l.Wrap(heldUpstream(arrived, release)), toolCall(t, 2), done)
	waitDone(t, done, "a call while a long one is under way")
	close(held)
	waitDone(t, long, "the long call")
	if got := sink.batches(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Errorf("records per transaction: %v", got)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
