package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Principal is the authenticated caller, as the edge's token validation
// established it. The gateway keys sessions, upstream sessions and
// isolation on it.
type Principal struct {
	Issuer   string
	Subject  string
	ClientID string
	Scopes   []string
	// Groups and Claims are what the token says of the user beyond its
	// scopes (see resourceserver.Principal), for policies that decide on
	// them. Read-only.
	Groups []string
	Claims map[string][]string
}

// key returns what a session is bound to: a hash of issuer, subject and
// client together (zero for anonymous callers). Another client of the same
// user, or the same subject at another trusted issuer, is another
// principal and does not find the session.
func (p *Principal) key() [16]byte {
	if p == nil || (p.Issuer == "" && p.Subject == "" && p.ClientID == "") {
		return [16]byte{}
	}
	return hashFields(p.Issuer, p.Subject, p.ClientID)
}

// userKey returns a hash of issuer and subject: the user, whatever client
// acts for it (zero for anonymous callers). Per-user state keys on it,
// never on the subject alone, which two issuers may both use for
// different people.
func (p *Principal) userKey() [16]byte {
	if p == nil || (p.Issuer == "" && p.Subject == "") {
		return [16]byte{}
	}
	return hashFields(p.Issuer, p.Subject)
}

// hashFields hashes its arguments length-prefixed, so that no two
// different lists give the same input. The input is put together in a
// buffer on the stack when it fits (a caller's key is hashed on every
// call): the same bytes, and the same hash, as written one by one.
func hashFields(fields ...string) [16]byte {
	var room [256]byte
	b := room[:0]
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// Call is one client message on the MCP plane. It travels down the chain
// of one request: policies must not use it from several goroutines at once.
type Call struct {
	// Route is the gateway route (the upstream server's name).
	Route string
	// Era and Version are the client's protocol era and version.
	Era     mcp.Era
	Version string
	// Session is the client's legacy session (nil in the modern era).
	Session *session.State
	// Principal is the authenticated caller (nil when the route is open).
	Principal *Principal
	// Msg is the message that goes upstream, decoded: Msg.Raw are its
	// bytes (Body), and Params the routing fields read from them. Both are
	// read-only and derived from those bytes; SetBody derives them again.
	Msg    *jsonrpc.Message
	Params mcp.Params
	// Header holds the client's request headers (read-only).
	Header http.Header
	// Catalog is the route's tool catalog, through which policies learn
	// tool definitions (see Tools). A Gateway sets it; a call built
	// elsewhere has none unless given one.
	Catalog *Catalog
	// Stream is set for a legacy session's GET: the standalone stream of
	// server messages, or the resumption of an earlier stream (2025-11-25
	// transports "Listening for Messages from the Server", "Resumability
	// and Redelivery"). The client sent no message: Msg is an empty
	// notification standing for the GET, so policies that decide on
	// requests let it pass, and the reply carries the server's
	// notifications and requests (and, on resumption, the rest of an
	// earlier POST's stream, responses included). Policies that rewrite
	// what comes back must wrap this reply too.
	Stream bool
	// Observation is what the outermost telemetry middleware keeps for
	// this call and shares with its wrappers further in (which policies
	// passed the call on): opaque to the gateway, nil when nothing
	// observes the call. A derived call (Derive) has none. Carried here,
	// not in the context, so that reading it costs no context walk and
	// setting it no allocation.
	Observation any

	fwd     http.Header    // the client headers that travel upstream
	rewrote bool           // a policy replaced the body (SetBody)
	limits  jsonrpc.Limits // what SetBody accepts: the route's limits
	tools   *ToolList      // the caller's tool list, once Tools has read it

	lastEventID string // the GET's Last-Event-ID (Stream only)

	checkHeaders bool // a 2026-07-28 tools/call: Mcp-Param-* headers checked before the chain

	draining context.Context // the gateway's: done once Drain began

	// req is room for the request dispatch sends upstream, allocated with
	// the call (newCall) and used once; reqOf is the call it was made
	// with, so that a copy of the Call never uses it too.
	req   *upstream.Request
	reqOf *Call
}

// callRoom is a Call and the upstream request its dispatch makes, in one
// allocation.
type callRoom struct {
	Call
	req upstream.Request
}

// newCall returns c in one allocation with room for the request dispatch
// sends upstream for it.
func newCall(c Call) *Call {
	r := &callRoom{Call: c}
	r.Call.req, r.Call.reqOf = &r.req, &r.Call
	return &r.Call
}

// forward is upstream.Forward(c.Msg), in the room newCall made for it the
// first time (a request the upstream may still hold is never reused).
func (c *Call) forward() *upstream.Request {
	r := c.req
	if r == nil || c.reqOf != c {
		return upstream.Forward(c.Msg)
	}
	c.req, c.reqOf = nil, nil
	*r = *upstream.Forward(c.Msg)
	return r
}

// Draining reports whether the gateway serving the call has begun to shut
// down (Drain): a reply that ends now before its response was ended by
// the gateway, not by the client, and the call goes on upstream.
func (c *Call) Draining() bool { return c.draining != nil && c.draining.Err() != nil }

// sameBytes reports whether a and b are the same slice of the same array.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// streamMsg is the Msg of a Stream call.
var streamMsg = jsonrpc.Message{Kind: jsonrpc.KindNotification}

// Body returns the message bytes that will be forwarded: exactly these go
// upstream, whatever the upstream's kind or era (a bridge adds or removes
// only the protocol's own _meta fields).
func (c *Call) Body() []byte { return c.Msg.Raw }

// SetBody replaces the bytes forwarded upstream (a policy that rewrites
// arguments) and derives Msg and Params from them again: the one
// validating scan an editing policy pays. The message must stay one
// JSON-RPC message of the same kind, id and method; otherwise SetBody
// changes nothing and returns an error.
func (c *Call) SetBody(b []byte) error {
	m, err := jsonrpc.Decode(b, c.limits)
	if err != nil {
		return fmt.Errorf("gateway: rewritten message: %w", err)
	}
	if m.Kind != c.Msg.Kind || m.ID != c.Msg.ID || m.Method != c.Msg.Method {
		return errors.New("gateway: a rewritten message must keep its kind, id and method")
	}
	p, err := mcp.ParamsOf(m)
	if err != nil {
		return fmt.Errorf("gateway: rewritten message: %w", err)
	}
	c.Msg, c.Params, c.rewrote = m, p, true
	return nil
}

// Handler serves one call and returns the upstream's reply (or a reply the
// handler made itself). An error that is a *jsonrpc.Error or an *Error is
// answered as such; any other error as an upstream failure.
type Handler func(ctx context.Context, c *Call) (upstream.Reply, error)

// Middleware wraps a Handler. Policies are Middleware: they inspect the
// call, refuse it by returning an error, or wrap the Reply to rewrite what
// comes back.
type Middleware func(Handler) Handler

// TransformReply wraps r so that fn rewrites every event before the client
// sees it. Policies use it for result masking and list filtering. fn reads
// the event's bytes (ev.Data) and, if it needs more than a glance at them,
// their decoded form (ev.Message), which is decoded once for every policy
// and the relay. It returns the data to send: ev.Data itself when it has
// nothing to do (the event passes as it is, decoded form included), new
// bytes to rewrite it, or nothing to drop it.
func TransformReply(r upstream.Reply, fn func(ev *upstream.Event) ([]byte, error)) upstream.Reply {
	return &transformed{Reply: r, fn: fn}
}

type transformed struct {
	upstream.Reply
	fn func(*upstream.Event) ([]byte, error)
}

// Next returns the next event, rewritten. An event whose data fn turns
// into nothing is dropped.
func (t *transformed) Next(ctx context.Context) (*upstream.Event, error) {
	for {
		ev, err := t.Reply.Next(ctx)
		if err != nil || len(ev.Data) == 0 {
			return ev, err
		}
		data, err := t.fn(ev)
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			if ev.ID != "" || ev.Retry > 0 {
				// Keep the id so resumption still works.
				return &upstream.Event{ID: ev.ID, Retry: ev.Retry}, nil
			}
			continue
		}
		if sameBytes(data, ev.Data) {
			return ev, nil
		}
		return &upstream.Event{ID: ev.ID, Data: data, Retry: ev.Retry}, nil
	}
}

// forwardHeaders picks the client request headers that travel upstream:
// the 2026-07-28 request metadata headers and trace context. Authorization,
// cookies and everything else stay at the gateway (no token passthrough:
// 2026-07-28 basic/authorization/security-considerations "Token
// Passthrough").
func forwardHeaders(in http.Header) http.Header {
	var out http.Header
	for k, vs := range in {
		if k == "" || (k[0] != 'M' && k[0] != 'T' && k[0] != 'B') {
			continue // most fields: none of those below begins so
		}
		if k == mcp.HeaderMethod || k == mcp.HeaderName || strings.HasPrefix(k, mcp.HeaderParamPrefix) ||
			k == "Traceparent" || k == "Tracestate" || k == "Baggage" {
			if out == nil {
				out = make(http.Header, 4)
			}
			out[k] = vs
		}
	}
	return out
}

// Derive returns a new request from the same caller, in the same session
// and era, for a policy that needs to ask the upstream something itself (a
// tools/list to learn the tool schemas it checks arguments against). In the
// 2026-07-28 era the caller's _meta (version, capabilities, client info) is
// copied into params and the Mcp-Method/Mcp-Name headers are set.
func (c *Call) Derive(id jsonrpc.ID, method string, params []byte) (*Call, error) {
	if params == nil {
		params = []byte(`{}`)
	}
	if !jsonx.IsObject(params) {
		return nil, errors.New("gateway: derived params must be an object")
	}
	var err error
	if c.Era == mcp.EraModern && c.Params.Meta != nil {
		meta := []byte(`{}`)
		for _, k := range []string{mcp.MetaProtocolVersion, mcp.MetaClientCapabilities, mcp.MetaClientInfo} {
			if v, ok := jsonx.Get(c.Params.Meta, k); ok {
				if meta, err = jsonx.Set(meta, k, v); err != nil {
					return nil, err
				}
			}
		}
		if params, err = jsonx.Set(params, "_meta", meta); err != nil {
			return nil, err
		}
	}
	raw := jsonrpc.AppendRequest(nil, id, method, params)
	msg, err := jsonrpc.Decode(raw, jsonrpc.Limits{})
	if err != nil {
		return nil, err
	}
	p, err := mcp.ParamsOf(msg)
	if err != nil {
		return nil, err
	}
	d := &Call{Route: c.Route, Era: c.Era, Version: c.Version, Session: c.Session, Principal: c.Principal,
		Msg: msg, Params: p, Header: c.Header, Catalog: c.Catalog, limits: c.limits}
	d.fwd = make(http.Header, len(c.fwd)+2)
	for k, v := range c.fwd {
		if k != mcp.HeaderMethod && k != mcp.HeaderName && !strings.HasPrefix(k, mcp.HeaderParamPrefix) {
			d.fwd[k] = v
		}
	}
	if c.Era == mcp.EraModern {
		d.fwd[mcp.HeaderMethod] = []string{method}
		switch mcp.NameField(method) {
		case "name":
			d.fwd[mcp.HeaderName] = []string{mcp.EncodeHeaderValue(p.Name)}
		case "uri":
			d.fwd[mcp.HeaderName] = []string{mcp.EncodeHeaderValue(p.URI)}
		}
	}
	return d, nil
}

// FinalResult reads a reply to its response and returns the raw result, or
// the JSON-RPC error as a *jsonrpc.Error. It closes the reply.
func FinalResult(ctx context.Context, reply upstream.Reply) ([]byte, error) {
	return upstream.FinalResult(ctx, reply)
}
