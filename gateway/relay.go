package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// relay writes a reply to the client. pending lists the ids of the
// client's requests the reply must answer; any still unanswered when the
// upstream fails get a JSON-RPC error, so no call hangs.
//
// Nothing of an upstream's stream is copied through: each event the
// policies passed is written anew by transport.SSEWriter (an "id:" line,
// "data:" lines, a blank line), its data checked to be one JSON-RPC
// message and its id with transport.ValidEventID, so that a client parsing
// the answer as WHATWG HTML 9.2.6 says sees exactly those events.
//
// relay returns an error only when it has written nothing: the failure
// is then the answer.
func (g *Gateway) relay(ctx context.Context, w http.ResponseWriter, reply upstream.Reply, pending []jsonrpc.ID, era mcp.Era) error {
	defer reply.Close()
	info := reply.Info()
	if info.Status == http.StatusAccepted {
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if !info.Stream && !info.Lazy {
		ev, err := reply.Next(ctx)
		if err != nil {
			return answer(firstOf(pending), noEOF(err))
		}
		status := info.Status
		if status == 0 {
			status = http.StatusOK
		}
		if status == http.StatusOK && era == mcp.EraModern {
			if m, err := ev.Message(); err == nil {
				status = replyStatus(m)
			}
		}
		w.Header()["Content-Type"] = hvJSON
		w.WriteHeader(status)
		_, _ = w.Write(ev.Data)
		return nil
	}

	// Once answering with a stream, Drain may end it: it cancels the
	// stream's reads and closes the reply. A call that will be answered
	// with plain JSON is not tracked and runs to its end.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sse *transport.SSEWriter
	var untrack func()
	defer func() {
		if untrack != nil {
			untrack()
		}
	}()
	startSSE := func() error {
		sse = transport.NewSSEWriter(w)
		if info.Whole {
			// Every event is at hand: the answer goes out in one write
			// when the handler returns.
			sse.Hold()
		}
		untrack = g.track(func() { cancel(); reply.Close() })
		return sse.Start(http.StatusOK)
	}
	open := newPendingSet(pending)
	if info.Stream {
		// The upstream chose a stream: answer with one at once, so that a
		// quiet stream (a GET waiting for server messages) still gets its
		// headers (held, with the events, when the stream is whole).
		if err := startSSE(); err != nil {
			return nil
		}
	}
	sawID := false
	for {
		ev, err := reply.Next(ctx)
		if err != nil {
			if sse == nil && !errors.Is(err, io.EOF) && g.drainCtx.Err() == nil {
				// Nothing written yet: answer the failure plainly.
				if len(pending) == 1 {
					return answer(pending[0], err)
				}
			}
			if sse == nil {
				sse = transport.NewSSEWriter(w)
			}
			g.endStream(sse, open, err, era, sawID || info.PrimingID != "")
			return nil
		}
		if ev.ID != "" && !transport.ValidEventID(ev.ID) {
			// An id a client could not hand back intact (control
			// characters, non-ASCII, oversized): relay the event without
			// it, so the client keeps its previous last event ID.
			g.log.Warn("dropping invalid upstream event id", "len", len(ev.ID))
			ev = ev.WithID("")
		}
		if ev.ID != "" {
			sawID = true
		}
		var done bool
		if len(ev.Data) > 0 {
			m, derr := ev.Message()
			if derr != nil {
				g.log.Warn("dropping malformed upstream message", "err", derr)
				continue
			}
			if m.Kind == jsonrpc.KindResponse {
				open.done(m.ID)
				done = open.empty()
			} else if m.Kind == jsonrpc.KindNotification && m.Method == mcp.NotificationToolsListChanged {
				g.catalog.Invalidate()
			}
			// The final response to a lone request, before anything else
			// was written, goes out as plain JSON: cheaper for both sides.
			if sse == nil && info.Lazy && done {
				status := http.StatusOK
				if era == mcp.EraModern {
					status = replyStatus(m)
				}
				w.Header()["Content-Type"] = hvJSON
				w.WriteHeader(status)
				_, _ = w.Write(ev.Data)
				return nil
			}
		}
		if sse == nil {
			if err := startSSE(); err != nil {
				return nil
			}
			if info.PrimingID != "" {
				// 2025-11-25 transports: the server SHOULD immediately send
				// an event with an id and an empty data field.
				if sse.Retry(g.opts.RetryHint) != nil || sse.Event(info.PrimingID, nil) != nil {
					return nil
				}
			}
		}
		if ev.Retry > 0 {
			if err := sse.RetryMillis(ev.Retry); err != nil {
				return nil
			}
		}
		if len(ev.Data) > 0 || ev.ID != "" {
			var err error
			if done {
				// The last event goes out with the end of the response.
				err = sse.Last(ev.ID, ev.Data)
			} else {
				err = sse.Event(ev.ID, ev.Data)
			}
			if err != nil {
				return nil // client gone; reply.Close releases the upstream
			}
		}
		if done {
			return nil
		}
	}
}

// hvJSON is the Content-Type of a JSON answer, set by its canonical name
// (as Header.Set would) without allocating a value slice per answer. It is
// never modified; its capacity of one makes an Add copy it.
var hvJSON = []string{"application/json"}[:1:1]

// firstOf is the id of the only pending request, or none.
func firstOf(pending []jsonrpc.ID) jsonrpc.ID {
	if len(pending) == 1 {
		return pending[0]
	}
	return jsonrpc.ID{}
}

// endStream finishes an SSE stream whose upstream stopped before answering
// every request.
func (g *Gateway) endStream(sse *transport.SSEWriter, open *pendingSet, err error, era mcp.Era, resumable bool) {
	if g.drainCtx.Err() != nil && era == mcp.EraLegacy {
		// Shutting down: ask the client to come back (to another replica).
		_ = sse.Retry(g.opts.RetryHint)
		return
	}
	if errors.Is(err, io.EOF) && era == mcp.EraLegacy && resumable && !open.empty() {
		// The upstream closed a resumable stream early (SSE polling,
		// 2025-11-25 transports "Resumability and Redelivery"): the client
		// resumes it with GET and Last-Event-ID.
		_ = sse.Retry(g.opts.RetryHint)
		return
	}
	if open.empty() {
		return
	}
	msg := "upstream server closed the stream before answering"
	if !errors.Is(err, io.EOF) {
		e := answer(jsonrpc.ID{}, err)
		g.logCause(e)
		msg = e.RPC.Message
	}
	for _, id := range open.ids() {
		_ = sse.Event("", jsonrpc.AppendErrorResponse(nil, id, jsonrpc.NewError(jsonrpc.CodeUpstreamUnavailable, msg)))
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("upstream reply was empty")
	}
	return err
}

// replyStatus gives a 2026-07-28 JSON reply its HTTP status from its
// JSON-RPC error code.
func replyStatus(m *jsonrpc.Message) int {
	if m.Error == nil {
		return http.StatusOK
	}
	e, err := jsonrpc.DecodeError(m.Error)
	if err != nil {
		return http.StatusOK
	}
	return statusForRPC(e.Code)
}

// pendingSet tracks request ids awaiting responses (few per stream).
type pendingSet struct{ list []jsonrpc.ID }

func newPendingSet(ids []jsonrpc.ID) *pendingSet {
	return &pendingSet{list: append([]jsonrpc.ID(nil), ids...)}
}

func (p *pendingSet) done(id jsonrpc.ID) {
	for i, x := range p.list {
		if x == id {
			p.list = append(p.list[:i], p.list[i+1:]...)
			return
		}
	}
}

func (p *pendingSet) empty() bool       { return len(p.list) == 0 }
func (p *pendingSet) ids() []jsonrpc.ID { return p.list }
