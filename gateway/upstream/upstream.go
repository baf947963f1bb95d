package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// Upstream is one MCP server as the gateway sees it. Implementations must
// be safe for concurrent use by many requests.
type Upstream interface {
	// Post delivers one client POST: a request, a notification, a response
	// to a server-to-client request, or (2025-03-26) a batch of those. The
	// Reply carries the upstream's answer; for notifications and responses
	// it is an empty reply with status 202.
	Post(ctx context.Context, req *Request) (Reply, error)
	// Get opens the session's standalone server-to-client stream, or
	// resumes a stream when req.LastEventID is set (legacy era only).
	Get(ctx context.Context, req *Request) (Reply, error)
	// Delete terminates the upstream side of a session (legacy era only).
	Delete(ctx context.Context, req *Request) error
	// Close releases everything the upstream holds (processes, idle
	// connections). In-flight replies fail.
	Close(ctx context.Context) error
}

// Request is what the gateway asks of an upstream.
type Request struct {
	// Body is the one message to forward, exactly as the gateway's
	// policies left it: every upstream sends these bytes (or, where its
	// transport must, these bytes with only the request id replaced).
	// Empty for Get and Delete.
	Body []byte
	// Session is the upstream-side session: the upstream's Mcp-Session-Id
	// for HTTP upstreams, the pool key for local ones. Empty before
	// initialize and for stateless requests.
	Session string
	// Key identifies the client's legacy session (the gateway session
	// nonce); empty for stateless requests.
	Key string
	// Principal identifies the authenticated caller ("anonymous" when the
	// route is open), for per-user isolation and upstream credentials.
	Principal string
	// ProtocolVersion is sent as the MCP-Protocol-Version header.
	ProtocolVersion string
	// Header holds further request headers to forward: Mcp-Method,
	// Mcp-Name, Mcp-Param-*, traceparent. Never Authorization or cookies.
	Header http.Header
	// LastEventID resumes a stream (GET only).
	LastEventID string

	msg *jsonrpc.Message // Body decoded, when the request was made by Forward
}

// Forward returns a request that forwards m: its Body is m.Raw, and m is
// its decoded form, so that an upstream that needs the message's kind, id
// or method (a stdio pool) does not decode the bytes again.
func Forward(m *jsonrpc.Message) *Request { return &Request{Body: m.Raw, msg: m} }

// Message returns Body decoded. The form Forward was given serves only
// while Body is still exactly its bytes; otherwise Body is decoded (with
// the default limits) and the result kept.
func (r *Request) Message() (*jsonrpc.Message, error) {
	if r.msg != nil && sameBytes(r.msg.Raw, r.Body) {
		return r.msg, nil
	}
	m, err := jsonrpc.Decode(r.Body, jsonrpc.Limits{})
	if err != nil {
		return nil, err
	}
	r.msg = m
	return m, nil
}

// sameBytes reports whether a and b are the same slice of the same array:
// a decoded form is derived from exactly those bytes, never from a copy
// that may since differ.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Event is one message of a reply. Like the Reply it comes from, it is
// read by one goroutine at a time: whoever got it from Next, then whoever
// that one hands it to.
type Event struct {
	// ID is the SSE event id ("" if none). Ids are unique within the
	// upstream session, so the gateway forwards them unchanged and hands
	// them back on resumption, provided they pass
	// transport.ValidEventID; the gateway relays any other without its id.
	ID string
	// Data is one JSON-RPC message; empty for a priming event.
	Data []byte
	// Retry is a reconnection hint in milliseconds (0 if none).
	Retry int

	dec []byte           // the Data that msg and err are of
	msg *jsonrpc.Message // Data decoded, once (Message)
	err error
}

// DecodedEvent returns an event carrying m, already decoded (a stdio
// upstream decodes each line it reads).
func DecodedEvent(id string, m *jsonrpc.Message) *Event {
	return &Event{ID: id, Data: m.Raw, dec: m.Raw, msg: m}
}

// Message returns Data decoded as one JSON-RPC message. It decodes once:
// every policy that reads the event, the gateway's relay and its era
// bridges share the result. A decoded form serves only while Data is
// still exactly its bytes; whoever rewrites an event makes a new one.
func (e *Event) Message() (*jsonrpc.Message, error) {
	if e.dec == nil || !sameBytes(e.dec, e.Data) {
		e.dec = e.Data
		e.msg, e.err = jsonrpc.Decode(e.Data, jsonrpc.Limits{})
	}
	return e.msg, e.err
}

// WithID returns a copy of the event with another id, keeping its decoded
// form.
func (e *Event) WithID(id string) *Event {
	c := *e
	c.ID = id
	return &c
}

// Reply is an upstream's answer to one HTTP exchange. Next and Close may be
// called from one goroutine at a time; Close may be called concurrently
// with Next to abort it.
type Reply interface {
	// Info describes the HTTP-level answer; it is known before the first
	// event.
	Info() Info
	// Next returns the next event; io.EOF after the last one. When the
	// upstream closes a stream early (SSE polling), Next returns io.EOF
	// before the final response and the client resumes with Get.
	Next(ctx context.Context) (*Event, error)
	// Close releases the reply. Closing a modern-era reply before its final
	// response cancels the request upstream.
	Close() error
}

// Info is the HTTP-level shape of a reply.
type Info struct {
	// Status is the HTTP status to answer with (200, 202, or a 4xx the
	// upstream chose, such as 400 or 404 with a JSON-RPC error body).
	Status int
	// Stream reports an SSE reply (false: at most one JSON message).
	Stream bool
	// Lazy reports a reply whose transport is the gateway's choice: plain
	// JSON when the first message is the final response, otherwise SSE
	// (local upstreams produce these).
	Lazy bool
	// Whole reports a stream whose every event is already in memory:
	// reading it never waits for the upstream. The gateway then sends the
	// answer in one write instead of flushing the headers and each event
	// as they come.
	Whole bool
	// PrimingID, when set, is the event id of the priming event the gateway
	// sends first if it answers with SSE, so that the client can resume the
	// stream before any message arrived.
	PrimingID string
	// Session is the upstream session id the upstream assigned (initialize).
	Session string
}

// ErrSessionGone reports an upstream session that no longer exists (HTTP
// 404 from the upstream, or the local process is gone): the gateway answers
// 404 so the client starts a new session.
var ErrSessionGone = errors.New("upstream: session not found")

// ErrNotSupported reports an exchange the upstream cannot perform, such as
// a GET stream on an upstream that answers 405.
var ErrNotSupported = errors.New("upstream: not supported")

// StaticReply is a Reply holding events already in memory.
type StaticReply struct {
	I      Info
	Events []*Event
	next   int
}

// Info implements Reply.
func (r *StaticReply) Info() Info { return r.I }

// Next implements Reply.
func (r *StaticReply) Next(context.Context) (*Event, error) {
	if r.next >= len(r.Events) {
		return nil, io.EOF
	}
	r.next++
	return r.Events[r.next-1], nil
}

// Close implements Reply.
func (r *StaticReply) Close() error { return nil }

// Message returns a 200 JSON reply with one message.
func Message(data []byte) *StaticReply {
	return &StaticReply{I: Info{Status: http.StatusOK}, Events: []*Event{{Data: data}}}
}

// Accepted returns the empty 202 reply.
func Accepted() *StaticReply { return &StaticReply{I: Info{Status: http.StatusAccepted}} }

// FinalResult reads reply up to the response and returns its result, or
// its error as a *jsonrpc.Error; it closes the reply. Other messages on
// the way (notifications, server requests) are skipped.
func FinalResult(ctx context.Context, reply Reply) ([]byte, error) {
	defer reply.Close()
	for {
		ev, err := reply.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil, errors.New("upstream reply was empty")
		}
		if err != nil {
			return nil, err
		}
		if len(ev.Data) == 0 {
			continue
		}
		m, err := ev.Message()
		if err != nil || m.Kind != jsonrpc.KindResponse {
			continue
		}
		if m.Error != nil {
			e, err := jsonrpc.DecodeError(m.Error)
			if err != nil {
				return nil, err
			}
			return nil, e
		}
		if !jsonx.IsObject(m.Result) {
			return nil, errors.New("result is not an object")
		}
		return m.Result, nil
	}
}
