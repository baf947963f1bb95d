package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// Options configures an Upstream. Sessions is required.
type Options struct {
	// Sessions is the pool serving legacy-era sessions, with the isolation
	// the operator chose.
	Sessions *stdio.Pool
	// Stateless is the pool serving 2026-07-28 requests, one conn per
	// principal. It must be a PerSession pool without InitializeParams (a
	// 2026-07-28 server needs no handshake). If nil, Sessions is used.
	Stateless *stdio.Pool
	// CallTimeout bounds a legacy call that outlives its client's
	// connection. If zero, 10 minutes.
	CallTimeout time.Duration
	// MaxEvents bounds the events kept per stream for resumption. If zero,
	// 256.
	MaxEvents int
	// StreamTTL is how long a finished stream stays resumable. If zero, 5
	// minutes.
	StreamTTL time.Duration
	// Logger receives adapter events. If nil, nothing is logged.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Upstream is a local MCP server behind the stdio pool.
type Upstream struct {
	o        Options
	log      *slog.Logger
	mu       sync.Mutex
	sessions map[string]*sess
	closed   bool
	// statelessIDs numbers the 2026-07-28 requests sent on principals'
	// conns (see stateless).
	statelessIDs atomic.Uint64
}

var _ upstream.Upstream = (*Upstream)(nil)

// New returns an upstream over the given pools.
func New(o Options) (*Upstream, error) {
	if o.Sessions == nil {
		return nil, errors.New("local: Sessions pool is required")
	}
	if o.Stateless == nil {
		o.Stateless = o.Sessions
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Minute
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 256
	}
	if o.StreamTTL <= 0 {
		o.StreamTTL = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Upstream{o: o, log: log, sessions: map[string]*sess{}}, nil
}

// sess is one gateway session's conn and its resumable streams.
type sess struct {
	key     string
	conn    *stdio.Conn
	ready   chan struct{} // closed once conn (or err) is set
	err     error
	mu      sync.Mutex
	streams map[int]*stream
	next    int
}

// poolKey picks the pool key: the session for per-session isolation, the
// principal for per-user.
func poolKey(p *stdio.Pool, req *upstream.Request) string {
	if p.Isolation() == stdio.PerUser {
		return req.Principal
	}
	return req.Key
}

// session returns the session for req.Key, acquiring its conn on first use.
func (u *Upstream) session(ctx context.Context, pool *stdio.Pool, req *upstream.Request, create bool) (*sess, error) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, stdio.ErrClosed
	}
	s := u.sessions[req.Key]
	if s == nil {
		if !create {
			u.mu.Unlock()
			return nil, upstream.ErrSessionGone
		}
		s = &sess{key: req.Key, ready: make(chan struct{}), streams: map[int]*stream{}, next: 1}
		u.sessions[req.Key] = s
		u.mu.Unlock()
		s.conn, s.err = pool.Acquire(ctx, poolKey(pool, req))
		close(s.ready)
		if s.err != nil {
			u.drop(s)
			return nil, s.err
		}
		go u.watch(s)
		return s, nil
	}
	u.mu.Unlock()
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.err != nil {
		return nil, s.err
	}
	return s, nil
}

// watch pumps the conn's unsolicited messages into the session's GET stream
// (stream 0) and forgets the session when its conn ends.
func (u *Upstream) watch(s *sess) {
	st := s.stream(0, u.o.MaxEvents)
	for m := range s.conn.Unsolicited() {
		st.append(upstream.DecodedEvent("", m))
	}
	st.finish()
	<-s.conn.Done()
	u.drop(s)
}

func (u *Upstream) drop(s *sess) {
	u.mu.Lock()
	if u.sessions[s.key] == s {
		delete(u.sessions, s.key)
	}
	u.mu.Unlock()
}

func (s *sess) stream(n, max int) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[n]
	if st == nil {
		st = newStream(n, max)
		s.streams[n] = st
	}
	return st
}

func (s *sess) newStream(max int, now time.Time, ttl time.Duration) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, st := range s.streams { // forget finished streams past their TTL
		if n != 0 && st.expired(now, ttl) {
			delete(s.streams, n)
		}
	}
	n := s.next
	s.next++
	st := newStream(n, max)
	s.streams[n] = st
	return st
}

func mapErr(err error) error {
	if errors.Is(err, stdio.ErrGone) {
		return upstream.ErrSessionGone
	}
	return err
}

// Post implements upstream.Upstream.
func (u *Upstream) Post(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	// The bytes the gateway's policies left, decoded once (by the
	// gateway, when it made the request with upstream.Forward).
	m, err := req.Message()
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if req.Key == "" {
		return u.stateless(ctx, req, m)
	}
	// With per_session isolation the client's initialize initializes
	// the session's own process, so only initialize starts one: a session
	// this replica does not hold (its process ended, or another replica
	// runs it) is gone, never a fresh process that would answer as if
	// initialised. Shared and per-user processes are initialized by the
	// pool itself, so any replica can attach a session to them.
	create := u.o.Sessions.Isolation() != stdio.PerSession || m.Kind == jsonrpc.KindRequest && m.Method == "initialize"
	s, err := u.session(ctx, u.o.Sessions, req, create)
	if err != nil {
		return nil, mapErr(err)
	}
	if m.Kind != jsonrpc.KindRequest {
		if err := s.conn.Send(ctx, m); err != nil && !errors.Is(err, stdio.ErrUnknownRequest) {
			return nil, mapErr(err)
		}
		return upstream.Accepted(), nil
	}
	// A legacy client's disconnect is not a cancellation (2025-11-25
	// transports): the call runs on, bounded by CallTimeout, into a stream
	// the client can resume.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.o.CallTimeout)
	call, err := s.conn.Call(cctx, m)
	if err != nil {
		cancel()
		return nil, mapErr(err)
	}
	st := s.newStream(u.o.MaxEvents, u.o.Now(), u.o.StreamTTL)
	go func() {
		defer cancel()
		defer call.Close()
		for {
			msg, err := call.Next(cctx)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					st.append(errorMessage(m.ID, err))
				}
				st.finish()
				return
			}
			st.append(upstream.DecodedEvent("", msg))
		}
	}()
	return &streamReply{st: st, info: upstream.Info{Status: http.StatusOK, Lazy: true, PrimingID: eventID(st.n, 0)}}, nil
}

// errorMessage is errorFor as a stream's event.
func errorMessage(id jsonrpc.ID, err error) *upstream.Event {
	return &upstream.Event{Data: errorFor(id, err)}
}

// errorFor turns a call failure into the JSON-RPC error response the client
// is owed.
func errorFor(id jsonrpc.ID, err error) []byte {
	var re *jsonrpc.Error
	if !errors.As(err, &re) {
		switch {
		case errors.Is(err, stdio.ErrCancelled):
			re = jsonrpc.NewError(jsonrpc.CodeInternalError, "request cancelled")
		case errors.Is(err, context.DeadlineExceeded):
			re = jsonrpc.NewError(jsonrpc.CodeUpstreamTimeout, "upstream server timed out")
		default:
			re = jsonrpc.NewError(jsonrpc.CodeUpstreamUnavailable, "upstream server unavailable")
		}
	}
	return jsonrpc.AppendErrorResponse(nil, id, re)
}

// stateless serves a 2026-07-28 request on the principal's conn; the
// client's context is the call's, so closing the stream cancels it
// (streamable-http "Cancellation").
func (u *Upstream) stateless(ctx context.Context, req *upstream.Request, m *jsonrpc.Message) (upstream.Reply, error) {
	sreq := &upstream.Request{Key: "stateless:" + req.Principal, Principal: req.Principal}
	s, err := u.session(ctx, u.o.Stateless, sreq, true)
	if err != nil {
		return nil, mapErr(err)
	}
	if m.Kind != jsonrpc.KindRequest {
		if err := s.conn.Send(ctx, m); err != nil {
			return nil, mapErr(err)
		}
		return upstream.Accepted(), nil
	}
	// Concurrent requests of one principal share its conn and may carry
	// the same id (2026-07-28 requests are independent): the conn sees an
	// id unique to this upstream, and the response gets the client's back.
	sent := jsonrpc.StringID("mcpfort-" + strconv.FormatUint(u.statelessIDs.Add(1), 10))
	raw, err := m.WithID(sent)
	if err != nil {
		return nil, mapErr(err)
	}
	um, err := jsonrpc.Decode(raw, jsonrpc.Limits{})
	if err != nil {
		return nil, mapErr(err)
	}
	call, err := s.conn.Call(ctx, um)
	if errors.Is(err, stdio.ErrGone) {
		// The principal's process ended (idle timeout): start another.
		u.drop(s)
		if s, err = u.session(ctx, u.o.Stateless, sreq, true); err == nil {
			call, err = s.conn.Call(ctx, um)
		}
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return &callReply{call: call, id: m.ID, sent: sent}, nil
}

// Get implements upstream.Upstream: the session's stream 0 (unsolicited
// messages), or the resumption of any of its streams.
func (u *Upstream) Get(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	if req.Key == "" {
		return nil, upstream.ErrNotSupported
	}
	s, err := u.session(ctx, u.o.Sessions, req, false)
	if err != nil {
		return nil, mapErr(err)
	}
	info := upstream.Info{Status: http.StatusOK, Stream: true}
	if req.LastEventID == "" {
		st := s.stream(0, u.o.MaxEvents)
		return &streamReply{st: st, info: info, pos: st.end(), live: true}, nil
	}
	n, seq, ok := parseEventID(req.LastEventID)
	if !ok {
		return nil, fmt.Errorf("%w: malformed Last-Event-ID", upstream.ErrNotSupported)
	}
	s.mu.Lock()
	st := s.streams[n]
	s.mu.Unlock()
	if st == nil {
		// The stream is unknown or expired: nothing to replay. An empty
		// stream that ends at once tells the client so.
		return &upstream.StaticReply{I: info}, nil
	}
	return &streamReply{st: st, info: info, pos: seq + 1, live: n == 0}, nil
}

// Delete implements upstream.Upstream.
func (u *Upstream) Delete(ctx context.Context, req *upstream.Request) error {
	u.mu.Lock()
	s := u.sessions[req.Key]
	u.mu.Unlock()
	if s == nil {
		return nil
	}
	<-s.ready
	if s.conn != nil {
		_ = s.conn.Close()
	}
	u.drop(s)
	return nil
}

// Close implements upstream.Upstream.
func (u *Upstream) Close(ctx context.Context) error {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	err := u.o.Sessions.Close(ctx)
	if u.o.Stateless != u.o.Sessions {
		err = errors.Join(err, u.o.Stateless.Close(ctx))
	}
	return err
}

func eventID(stream, seq int) string { return strconv.Itoa(stream) + "." + strconv.Itoa(seq) }

func parseEventID(s string) (stream, seq int, ok bool) {
	a, b, found := strings.Cut(s, ".")
	if !found || len(s) > 32 {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	q, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 0 || q < 0 {
		return 0, 0, false
	}
	return n, q, true
}

// callReply reads a stateless call directly.
type callReply struct {
	call *stdio.Call
	id   jsonrpc.ID
	// sent, if valid, is the id the request went upstream with instead
	// of id: the response carries it and gets id back.
	sent jsonrpc.ID
	done bool
}

func (r *callReply) Info() upstream.Info {
	return upstream.Info{Status: http.StatusOK, Lazy: true}
}

func (r *callReply) Next(ctx context.Context) (*upstream.Event, error) {
	if r.done {
		return nil, io.EOF
	}
	m, err := r.call.Next(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil, err
		}
		r.done = true
		return &upstream.Event{Data: errorFor(r.id, err)}, nil
	}
	if r.sent.IsValid() && m.Kind == jsonrpc.KindResponse && m.ID == r.sent {
		raw, err := m.WithID(r.id)
		if err != nil {
			r.done = true
			return &upstream.Event{Data: errorFor(r.id, err)}, nil
		}
		return &upstream.Event{Data: raw}, nil
	}
	return upstream.DecodedEvent("", m), nil
}

func (r *callReply) Close() error { r.call.Close(); return nil }
