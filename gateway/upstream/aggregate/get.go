package aggregate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
)

// mergeGet opens every member's GET stream (2025-11-25 transports
// "Listening for Messages from the Server") and relays their events as
// one stream: a member's list_changed or resource update reaches the
// client whichever member sent it. Members without a GET stream are left
// out; if none has one, ErrNotSupported.
func (a *Aggregate) mergeGet(ctx context.Context, req *upstream.Request, cs []child) (upstream.Reply, error) {
	sctx, cancel := context.WithCancel(ctx)
	replies := make([]upstream.Reply, len(a.members))
	var wg sync.WaitGroup
	gone := 0
	var mu sync.Mutex
	for i := range a.members {
		if !cs[i].up {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &upstream.Request{Session: cs[i].session, Key: req.Key, Principal: req.Principal, ProtocolVersion: cs[i].version, Header: memberHeader(req.Header)}
			// Opening is bounded by the timeout; the open stream lives
			// as long as the merged one.
			gctx, gcancel := context.WithCancel(sctx)
			t := time.AfterFunc(a.o.Timeout, gcancel)
			reply, err := a.members[i].Upstream.Get(gctx, r)
			if !t.Stop() && err == nil {
				reply.Close()
				err = context.DeadlineExceeded
			}
			if err != nil {
				gcancel()
				if errors.Is(err, upstream.ErrSessionGone) {
					mu.Lock()
					gone++
					mu.Unlock()
				}
				if !errors.Is(err, upstream.ErrNotSupported) {
					a.log.Warn("member GET stream not opened", "member", a.members[i].Name, "err", err)
				}
				return
			}
			replies[i] = &cancelReply{Reply: reply, cancel: gcancel}
		}()
	}
	wg.Wait()
	m := &merged{events: make(chan *upstream.Event, 16), cancel: cancel, done: make(chan struct{})}
	open := 0
	for i, r := range replies {
		if r == nil {
			continue
		}
		open++
		m.wg.Add(1)
		go m.pump(sctx, i, r)
	}
	if open == 0 {
		cancel()
		if gone > 0 {
			return nil, upstream.ErrSessionGone
		}
		return nil, upstream.ErrNotSupported
	}
	go func() {
		m.wg.Wait()
		close(m.done)
	}()
	return m, nil
}

// cancelReply releases the context a member's stream was opened with.
type cancelReply struct {
	upstream.Reply
	cancel context.CancelFunc
}

func (r *cancelReply) Close() error {
	err := r.Reply.Close()
	r.cancel()
	return err
}

// merged is the members' GET streams as one reply.
type merged struct {
	events chan *upstream.Event
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	once   sync.Once
}

func (m *merged) pump(ctx context.Context, i int, r upstream.Reply) {
	defer m.wg.Done()
	defer r.Close()
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			return
		}
		select {
		case m.events <- rewriteEvent(i, ev).WithID(""):
		case <-ctx.Done():
			return
		}
	}
}

func (m *merged) Info() upstream.Info { return upstream.Info{Status: http.StatusOK, Stream: true} }

// Next returns the next event of any member; io.EOF once every member's
// stream has ended.
func (m *merged) Next(ctx context.Context) (*upstream.Event, error) {
	select {
	case ev := <-m.events:
		return ev, nil
	case <-m.done:
		select {
		case ev := <-m.events:
			return ev, nil
		default:
			return nil, io.EOF
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *merged) Close() error {
	m.once.Do(m.cancel)
	return nil
}
