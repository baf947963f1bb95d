package aggregate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/transport"
)

// mergeGet opens every member's GET stream (2025-11-25 transports
// "Listening for Messages from the Server") and relays their events as
// one stream: a member's list_changed or resource update reaches the
// client whichever member sent it. Members without a GET stream are left
// out; if none has one, ErrNotSupported.
//
// last, when not nil, holds each member's last event id from the merged
// event id the client resumes from (mergedID): those members resume their
// own streams there (2025-11-25 transports "Resumability and
// Redelivery"); the others open theirs anew. A member that cannot resume
// (its events expired) opens its stream anew and is logged.
func (a *Aggregate) mergeGet(ctx context.Context, req *upstream.Request, cs []child, last []string) (upstream.Reply, error) {
	if last == nil {
		last = make([]string, len(a.members))
	}
	sctx, cancel := context.WithCancel(ctx)
	replies := make([]upstream.Reply, len(a.members))
	var wg sync.WaitGroup
	gone := 0
	var mu sync.Mutex
	for i := range a.members {
		if !cs[i].up {
			// Its position stays in the ids: a later resume, once it
			// is back, resumes it there.
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &upstream.Request{Session: cs[i].session, Key: req.Key, Principal: req.Principal, ProtocolVersion: cs[i].version, Header: memberHeader(req.Header), LastEventID: last[i]}
			reply, err := a.openGet(sctx, i, r)
			if err != nil && r.LastEventID != "" && !errors.Is(err, upstream.ErrSessionGone) {
				a.log.Warn("member GET stream not resumed; opened anew", "member", a.members[i].Name, "err", err)
				r.LastEventID, last[i] = "", ""
				reply, err = a.openGet(sctx, i, r)
			}
			if err != nil {
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
			replies[i] = reply
		}()
	}
	wg.Wait()
	m := &merged{events: make(chan memberEvent, 16), cancel: cancel, done: make(chan struct{}), last: last}
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

// openGet opens member i's GET stream. Opening is bounded by the timeout;
// the open stream lives as long as ctx.
func (a *Aggregate) openGet(ctx context.Context, i int, r *upstream.Request) (upstream.Reply, error) {
	gctx, gcancel := context.WithCancel(ctx)
	t := time.AfterFunc(a.o.Timeout, gcancel)
	reply, err := a.members[i].Upstream.Get(gctx, r)
	if !t.Stop() && err == nil {
		reply.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		gcancel()
		return nil, err
	}
	return &cancelReply{Reply: reply, cancel: gcancel}, nil
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

// memberEvent is an event of member i's GET stream, as the member sent it.
type memberEvent struct {
	i  int
	ev *upstream.Event
}

// merged is the members' GET streams as one reply.
type merged struct {
	events chan memberEvent
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	once   sync.Once
	// last is each member's last event id the client was handed (Next's
	// alone: Next is called from one goroutine at a time).
	last []string
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
		case m.events <- memberEvent{i, ev}:
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
	case me := <-m.events:
		return m.rewrite(me), nil
	case <-m.done:
		select {
		case me := <-m.events:
			return m.rewrite(me), nil
		default:
			return nil, io.EOF
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// rewrite gives a member's event its merged id: every member's last event
// id so far, this one included. An event the member sent without an id
// goes without one (the client keeps its last event id, which still
// covers every earlier event).
func (m *merged) rewrite(me memberEvent) *upstream.Event {
	ev := rewriteEvent(me.i, me.ev)
	if me.ev.ID == "" {
		return ev
	}
	m.last[me.i] = me.ev.ID
	return ev.WithID(mergedID(m.last))
}

func (m *merged) Close() error {
	m.once.Do(m.cancel)
	return nil
}

// A merged event id is "m" followed, for each member with a last event
// id, in member order, by "<index>.<length>.<id>", the member's index and
// the length of its id in decimal. It is handed back as Last-Event-ID to
// resume the merged stream where this client left it, each member at its
// own event. It is not sealed: like a single route's event ids, it only
// names events of the client's own session (whose members' sessions the
// gateway's sealed session id holds), and each member checks the id it
// is given as it would a client's.
const mergedPrefix = "m"

// mergedID encodes last as a merged event id; "" when the result would
// not be a valid event id (the event then goes without one, and a client
// that resumes is sent again what followed its last id: never less).
func mergedID(last []string) string {
	var b strings.Builder
	b.WriteString(mergedPrefix)
	for i, id := range last {
		if id == "" {
			continue
		}
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('.')
		b.WriteString(strconv.Itoa(len(id)))
		b.WriteByte('.')
		b.WriteString(id)
		if b.Len() > transport.MaxEventIDLength {
			return ""
		}
	}
	s := b.String()
	if !transport.ValidEventID(s) {
		return ""
	}
	return s
}

// isMergedID reports whether a Last-Event-ID is one of mergedID's rather
// than a call stream's ("<index>/<id>", eventID).
func isMergedID(s string) bool { return strings.HasPrefix(s, mergedPrefix) }

// parseMergedID decodes a merged event id for an aggregate of n members:
// each member's last event id ("" for none). Member indexes must be
// below n and increasing, each id non-empty, its length exact and the
// whole a valid event id.
func parseMergedID(s string, n int) ([]string, error) {
	if !transport.ValidEventID(s) {
		return nil, errors.New("not a valid event id")
	}
	rest, ok := strings.CutPrefix(s, mergedPrefix)
	if !ok {
		return nil, errors.New("not a merged event id")
	}
	last := make([]string, n)
	prev := -1
	for rest != "" {
		var i, l int
		var err error
		if i, rest, err = number(rest); err != nil {
			return nil, fmt.Errorf("member index: %w", err)
		}
		if i <= prev || i >= n {
			return nil, fmt.Errorf("member index %d out of order or range", i)
		}
		if l, rest, err = number(rest); err != nil {
			return nil, fmt.Errorf("id length: %w", err)
		}
		if l == 0 || l > len(rest) {
			return nil, fmt.Errorf("id length %d out of range", l)
		}
		last[i], rest = rest[:l], rest[l:]
		prev = i
	}
	return last, nil
}

// number reads a decimal number ending with "." at the start of s, in
// mergedID's form (no leading zeros: one id, one spelling).
func number(s string) (int, string, error) {
	d, rest, ok := strings.Cut(s, ".")
	if !ok || d == "" || len(d) > 3 || len(d) > 1 && d[0] == '0' {
		return 0, "", errors.New("malformed")
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, "", errors.New("malformed")
		}
	}
	v, _ := strconv.Atoi(d)
	return v, rest, nil
}
