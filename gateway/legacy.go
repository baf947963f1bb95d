package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// initialize starts a legacy session (2025-11-25 basic/lifecycle
// "Initialization"). With a legacy upstream the client's initialize goes
// through and the upstream's session id is sealed into the gateway's; with a
// stateless upstream the gateway answers from server/discover.
func (g *Gateway) initialize(w http.ResponseWriter, r *http.Request, msg *jsonrpc.Message, p mcp.Params) error {
	if msg.Kind != jsonrpc.KindRequest {
		return refuse(http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: initialize must be a request")
	}
	ctx := r.Context()
	pr := g.principal(ctx)
	now := g.now()
	st := &session.State{
		ID: session.NewID(), Created: now, Expires: now.Add(g.opts.SessionTTL),
		Route: g.opts.Route, Principal: pr.key(), Owner: g.opts.ReplicaID,
	}
	requested := ""
	if v, ok := jsonx.Get(msg.Params, "protocolVersion"); ok && msg.Params != nil {
		requested, _ = jsonx.String(v)
	}
	st.Version = mcp.NegotiateLegacy(requested)
	c := &Call{Route: g.opts.Route, Catalog: g.catalog, Era: mcp.EraLegacy, Version: st.Version, Session: st, Principal: pr, Msg: msg, Params: p, Header: r.Header,
		fwd: forwardHeaders(r.Header), limits: g.opts.Limits}

	legacy, _ := g.era.get()
	if legacy == no {
		st.Mode = session.ModeToModern
	}
	if g.opts.SessionCapabilities {
		if caps, ok := jsonx.Get(msg.Params, "capabilities"); ok && jsonx.IsObject(caps) && len(caps) <= 4096 {
			st.ClientCapabilities = caps
		}
	}
	reply, err := g.entry(ctx, c)
	if err == nil && st.Mode == session.ModePassthrough && legacy == unknown {
		// Probe: an upstream that rejects initialize the way a stateless
		// server does is bridged instead (2026-07-28 basic/versioning
		// "Compatibility Matrix": legacy client, modern server).
		var first []*upstream.Event
		reply, first, err = g.bufferToResponse(ctx, reply)
		if err == nil && notLegacy(reply.Info(), first) {
			reply.Close()
			g.era.set(no, unknown)
			st.Mode = session.ModeToModern
			reply, err = g.entry(ctx, c)
		} else if err == nil {
			g.era.set(yes, unknown)
		}
	}
	if err != nil {
		return answer(msg.ID, err)
	}
	// The session exists only if the upstream accepted initialize: read up
	// to the response before sending headers.
	reply, first, err := g.bufferToResponse(ctx, reply)
	if err != nil {
		return answer(msg.ID, err)
	}
	info := reply.Info()
	if info.Status == http.StatusOK {
		for _, ev := range first {
			m, err := ev.Message()
			if err != nil || m.Kind != jsonrpc.KindResponse || m.ID != msg.ID || m.Result == nil {
				continue
			}
			if v, ok := jsonx.Get(m.Result, "protocolVersion"); ok {
				if s, ok := jsonx.String(v); ok && s != "" {
					st.Version = s
				}
			}
			st.UpstreamSession = info.Session
			sid, err := g.keys.Seal(st)
			if err != nil {
				reply.Close()
				return &Error{RPC: jsonrpc.NewError(jsonrpc.CodeInternalError, "Internal error: could not seal the session"), Cause: err, id: msg.ID}
			}
			w.Header().Set(mcp.HeaderSessionID, sid)
		}
	}
	return g.relay(ctx, w, reply, []jsonrpc.ID{msg.ID}, mcp.EraLegacy)
}

// notLegacy reports whether an initialize reply says the upstream does not
// speak the legacy era: a 2026-07-28 error (unsupported version, unknown
// method, header mismatch) instead of an InitializeResult.
func notLegacy(info upstream.Info, first []*upstream.Event) bool {
	for _, ev := range first {
		m, err := ev.Message()
		if err != nil || m.Kind != jsonrpc.KindResponse || m.Error == nil {
			continue
		}
		e, err := jsonrpc.DecodeError(m.Error)
		if err != nil {
			continue
		}
		switch e.Code {
		case jsonrpc.CodeMethodNotFound, jsonrpc.CodeUnsupportedProtocolVersion, jsonrpc.CodeHeaderMismatch:
			return true
		case jsonrpc.CodeInvalidParams:
			return info.Status == http.StatusBadRequest
		}
	}
	return false
}

// bufferToResponse reads events until the first response (at most a few
// dozen) and returns a reply that replays them before the rest.
func (g *Gateway) bufferToResponse(ctx context.Context, r upstream.Reply) (upstream.Reply, []*upstream.Event, error) {
	if pr, ok := r.(*prefixReply); ok {
		return pr, pr.events, nil
	}
	var evs []*upstream.Event
	for len(evs) < 64 {
		ev, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.Close()
			return nil, nil, err
		}
		evs = append(evs, ev)
		if len(ev.Data) > 0 {
			if m, err := ev.Message(); err == nil && m.Kind == jsonrpc.KindResponse {
				break
			}
		}
	}
	return &prefixReply{Reply: r, events: evs}, evs, nil
}

// prefixReply replays buffered events, then continues with the reply.
type prefixReply struct {
	upstream.Reply
	events []*upstream.Event
	i      int
}

func (p *prefixReply) Next(ctx context.Context) (*upstream.Event, error) {
	if p.i < len(p.events) {
		p.i++
		return p.events[p.i-1], nil
	}
	return p.Reply.Next(ctx)
}

// openSession opens and checks a client's session id. A session that is
// malformed, expired, deleted, of another route or bound to another
// principal is simply not found (2025-11-25 transports: 404; another
// principal's session is 404 too, so that an id reveals nothing). When the
// denylist cannot be read the session is not served either (fail closed:
// a deleted session must never come back), but with 503 and Retry-After,
// so that the client retries rather than start a session that would fail
// the same way.
func (g *Gateway) openSession(ctx context.Context, sid string, pr *Principal, id jsonrpc.ID) (*session.State, error) {
	st, err := g.keys.Open(sid, g.now())
	if err != nil {
		return nil, sessionNotFound(id)
	}
	pk := pr.key()
	if st.Route != g.opts.Route || subtle.ConstantTimeCompare(st.Principal[:], pk[:]) != 1 {
		return nil, sessionNotFound(id)
	}
	denied, err := g.deny.Denied(ctx, st.ID)
	if err != nil {
		e := refuse(http.StatusServiceUnavailable, id, jsonrpc.CodeUpstreamUnavailable, "Service Unavailable: sessions cannot be checked right now")
		e.Header = http.Header{"Retry-After": {"1"}}
		e.Cause = fmt.Errorf("session denylist unavailable: %w", err)
		return nil, e
	}
	if denied {
		return nil, sessionNotFound(id)
	}
	return st, nil
}

func sessionNotFound(id jsonrpc.ID) *Error {
	return refuse(http.StatusNotFound, id, jsonrpc.CodeInvalidRequest, "Session not found")
}

// notRequestError answers a notification or a response that failed: there
// is no call to fail, so the HTTP status says it (502 for an upstream
// failure).
func notRequestError(err error) *Error {
	e := answer(jsonrpc.ID{}, err)
	if e.Status == 0 || e.Status == http.StatusOK {
		e.Status = http.StatusBadGateway
	}
	return e
}

// legacy serves a POST inside a legacy session; params[i] is what post
// read of in.msgs[i].Params.
func (g *Gateway) legacy(w http.ResponseWriter, in *inbound, params []mcp.Params) error {
	r, msgs, hv := in.r, in.msgs, in.hv
	ctx := r.Context()
	pr := g.principal(ctx)
	st, err := g.openSession(ctx, in.sid, pr, firstID(msgs))
	if err != nil {
		return err
	}
	version := st.Version
	if hv != "" {
		// 2025-06-18 transports: an unsupported version is a 400. A
		// different supported version inside a session is accepted.
		if !mcp.IsSupported(hv) {
			return &Error{Status: http.StatusBadRequest, RPC: versionErr(hv), id: firstID(msgs)}
		}
		version = hv
	}
	if in.batch && !mcp.AllowsBatch(st.Version) && !mcp.AllowsBatch(hv) {
		return refuse(http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: batches are supported only by protocol version "+mcp.Version20250326)
	}
	fwd := forwardHeaders(r.Header)
	call := func(i int) *Call {
		return newCall(Call{Route: g.opts.Route, Catalog: g.catalog, Era: mcp.EraLegacy, Version: version, Session: st, Principal: pr,
			Msg: msgs[i], Params: params[i], Header: r.Header, fwd: fwd, limits: g.opts.Limits})
	}
	if !in.batch {
		m := msgs[0]
		reply, err := g.entry(ctx, call(0))
		if err != nil {
			if errors.Is(err, upstream.ErrSessionGone) {
				g.endSession(ctx, st)
				return sessionNotFound(m.ID)
			}
			if m.Kind != jsonrpc.KindRequest {
				return notRequestError(err)
			}
			return answer(m.ID, err)
		}
		var pending []jsonrpc.ID
		if m.Kind == jsonrpc.KindRequest {
			pending = []jsonrpc.ID{m.ID}
		}
		return g.relay(ctx, w, reply, pending, mcp.EraLegacy)
	}
	g.batch(ctx, w, msgs, call)
	return nil
}

// batch serves a 2025-03-26 JSON-RPC batch by handling each message on its
// own (upstreams of later versions accept no batches) and answering with a
// JSON array of the responses, or an SSE stream when any reply streams.
func (g *Gateway) batch(ctx context.Context, w http.ResponseWriter, msgs []*jsonrpc.Message, call func(int) *Call) {
	var out [][]byte
	var streams []upstream.Reply
	var streamIDs [][]jsonrpc.ID
	for i, m := range msgs {
		reply, err := g.entry(ctx, call(i))
		if err != nil {
			if m.Kind == jsonrpc.KindRequest {
				out = append(out, g.inBand(m.ID, err))
			}
			continue
		}
		info := reply.Info()
		if info.Status == http.StatusAccepted || m.Kind != jsonrpc.KindRequest {
			reply.Close()
			continue
		}
		if info.Stream || info.Lazy {
			streams = append(streams, reply)
			streamIDs = append(streamIDs, []jsonrpc.ID{m.ID})
			continue
		}
		ev, err := reply.Next(ctx)
		reply.Close()
		if err != nil {
			out = append(out, g.inBand(m.ID, noEOF(err)))
			continue
		}
		if _, err := ev.Message(); err != nil {
			// Spliced into the array as it is, a reply holding several
			// values ("{...},{...}") would add responses no policy saw.
			g.log.Warn("dropping malformed upstream message", "err", err)
			out = append(out, jsonrpc.AppendErrorResponse(nil, m.ID, jsonrpc.NewError(jsonrpc.CodeUpstreamUnavailable, "upstream server sent a malformed reply")))
			continue
		}
		out = append(out, ev.Data)
	}
	if len(streams) == 0 {
		if len(out) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		b := []byte{'['}
		for i, o := range out {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, o...)
		}
		b = append(b, ']')
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	sse := transport.NewSSEWriter(w)
	for _, o := range out {
		if sse.Event("", o) != nil {
			break
		}
	}
	for i, s := range streams {
		g.relayInto(ctx, sse, s, streamIDs[i])
	}
}

// relayInto copies one streamed reply into an SSE stream already open.
func (g *Gateway) relayInto(ctx context.Context, sse *transport.SSEWriter, reply upstream.Reply, pending []jsonrpc.ID) {
	defer reply.Close()
	open := newPendingSet(pending)
	for !open.empty() {
		ev, err := reply.Next(ctx)
		if err != nil {
			g.endStream(sse, open, err, mcp.EraModern, false)
			return
		}
		if len(ev.Data) == 0 {
			continue
		}
		m, err := ev.Message()
		if err != nil {
			g.log.Warn("dropping malformed upstream message", "err", err)
			continue
		}
		if m.Kind == jsonrpc.KindResponse {
			open.done(m.ID)
		}
		if sse.Event("", ev.Data) != nil {
			return
		}
	}
}

// endSession forgets a session whose upstream side is gone.
func (g *Gateway) endSession(ctx context.Context, st *session.State) {
	if err := g.deny.Deny(ctx, st.ID, st.Expires); err != nil {
		g.log.Error("session denylist unavailable", "err", err)
	}
	g.bridge.forget(st.ID)
}

// get serves the GET stream of a legacy session, and resumption with
// Last-Event-ID (2025-11-25 transports "Listening for Messages from the
// Server", "Resumability and Redelivery"). The 2026-07-28 era has no GET:
// 405 (streamable-http "Backward Compatibility").
func (g *Gateway) get(w http.ResponseWriter, r *http.Request) error {
	sid := r.Header.Get(mcp.HeaderSessionID)
	if sid == "" || mcp.IsModern(r.Header.Get(mcp.HeaderProtocolVersion)) {
		return notAllowed("POST", "Method Not Allowed: no session, no GET stream")
	}
	if !acceptsSSE(r.Header.Values("Accept")) {
		return refuse(http.StatusNotAcceptable, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Not Acceptable: Accept must list text/event-stream")
	}
	if !transport.ValidEventID(r.Header.Get(mcp.HeaderLastEventID)) {
		// Every id the gateway relays passes this check (relay), so a
		// client resuming one of its streams never fails it.
		return refuse(http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Bad Request: invalid Last-Event-ID")
	}
	ctx := r.Context()
	hold := g.holdable(w, r)
	if hold != nil {
		ctx = hold.ctx
		defer hold.release()
	}
	pr := g.principal(ctx)
	st, err := g.openSession(ctx, sid, pr, jsonrpc.ID{})
	if err != nil {
		return err
	}
	// The stream goes through the MCP plane like a request, so that the
	// policies rewriting what comes back see its messages too.
	msg := streamMsg
	reply, err := g.entry(ctx, &Call{Route: g.opts.Route, Catalog: g.catalog, Era: mcp.EraLegacy, Version: st.Version, Session: st, Principal: pr,
		Msg: &msg, Header: r.Header, Stream: true, fwd: forwardHeaders(r.Header), lastEventID: r.Header.Get(mcp.HeaderLastEventID)})
	switch {
	case errors.Is(err, upstream.ErrNotSupported):
		return notAllowed("POST, DELETE", "Method Not Allowed")
	case errors.Is(err, upstream.ErrSessionGone):
		g.endSession(ctx, st)
		return sessionNotFound(jsonrpc.ID{})
	case err != nil:
		return notRequestError(err)
	}
	if hold != nil && hold.take(g, w, reply) {
		return nil
	}
	return g.relay(ctx, w, reply, nil, mcp.EraLegacy)
}

// getStream opens the upstream side of a legacy session's GET: the
// innermost handler of a Stream call.
func (g *Gateway) getStream(ctx context.Context, c *Call) (upstream.Reply, error) {
	st := c.Session
	if st.Mode == session.ModeToModern {
		return g.getFromModern(ctx, c)
	}
	return g.up.Get(ctx, &upstream.Request{
		Session: st.UpstreamSession, Key: sessionKey(st), Principal: principalKey(c.Principal),
		ProtocolVersion: st.Version, LastEventID: c.lastEventID, Header: c.fwd,
	})
}

// delete ends a legacy session (2025-11-25 transports "Session Management"
// item 5). Later requests with its id get 404.
func (g *Gateway) delete(w http.ResponseWriter, r *http.Request) error {
	sid := r.Header.Get(mcp.HeaderSessionID)
	if sid == "" {
		return notAllowed("POST", "Method Not Allowed: no session to delete")
	}
	ctx := r.Context()
	pr := g.principal(ctx)
	st, err := g.openSession(ctx, sid, pr, jsonrpc.ID{})
	if err != nil {
		return err
	}
	g.endSession(ctx, st)
	if st.Mode == session.ModePassthrough {
		err := g.up.Delete(ctx, &upstream.Request{Session: st.UpstreamSession, Key: sessionKey(st), Principal: principalKey(pr), ProtocolVersion: st.Version})
		if err != nil && !errors.Is(err, upstream.ErrSessionGone) {
			g.log.Warn("upstream session delete failed", "err", err)
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func sessionKey(st *session.State) string { return hex.EncodeToString(st.ID[:]) }

// principalKey names the user for the upstream (upstream.Request
// Principal): a per_user stdio process serves one issuer's subject, never
// a subject name shared by two issuers.
func principalKey(p *Principal) string {
	k := p.userKey()
	if k == ([16]byte{}) {
		return "anonymous"
	}
	return hex.EncodeToString(k[:])
}
