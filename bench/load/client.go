package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Era is the MCP protocol era a client speaks.
type Era int

const (
	// EraLegacy is the 2025-11-25 revision: each client sends initialize
	// and notifications/initialized once, then carries Mcp-Session-Id (when
	// the server assigns one) and MCP-Protocol-Version on every request
	// (basic/lifecycle, basic/transports "Session Management").
	EraLegacy Era = iota
	// EraModern is the 2026-07-28 revision: no handshake; every request
	// carries _meta protocolVersion and clientCapabilities, and the
	// MCP-Protocol-Version, Mcp-Method and Mcp-Name headers
	// (basic/transports/streamable-http "Request Metadata").
	EraModern
	// EraNone sends bare JSON-RPC tools/call POSTs with no handshake and no
	// MCP headers: for a plain handler that answers a fixed response.
	EraNone
)

// Protocol versions the generator speaks.
const (
	VersionLegacy = "2025-11-25"
	VersionModern = "2026-07-28"
)

// ParseEra accepts "legacy" or "2025-11-25", "modern" or "2026-07-28", and
// "none".
func ParseEra(s string) (Era, error) {
	switch s {
	case "legacy", VersionLegacy:
		return EraLegacy, nil
	case "modern", VersionModern:
		return EraModern, nil
	case "none":
		return EraNone, nil
	}
	return 0, fmt.Errorf("load: unknown era %q (want legacy, modern or none)", s)
}

func (e Era) String() string {
	switch e {
	case EraLegacy:
		return "legacy"
	case EraModern:
		return "modern"
	case EraNone:
		return "none"
	}
	return "era(" + strconv.Itoa(int(e)) + ")"
}

// Check is how strictly a tools/call response is verified.
type Check int

const (
	// CheckEcho requires a JSON-RPC result whose id is the request's id and
	// whose first content item's text is the text the request sent.
	CheckEcho Check = iota
	// CheckShape requires a JSON-RPC result with text content, whatever its
	// id and text: for a server that answers every call with one fixed
	// response.
	CheckShape
)

// ErrorKind classifies a failed exchange.
type ErrorKind int

// Kinds of failure, in the order they are reported.
const (
	KindTransport ErrorKind = iota // dial, write, read, timeout, malformed HTTP
	KindStatus                     // an HTTP status other than the one expected
	KindProtocol                   // a body that is not the JSON-RPC reply expected
	KindRPC                        // a JSON-RPC error, or a tool result with isError
	numKinds
)

func (k ErrorKind) String() string {
	return [...]string{"transport", "status", "protocol", "rpc"}[k]
}

// Error is one failed exchange.
type Error struct {
	Kind ErrorKind
	Op   string // "initialize", "tools/call", "GET", ...
	Msg  string
}

func (e *Error) Error() string { return e.Op + ": " + e.Kind.String() + ": " + e.Msg }

func failf(k ErrorKind, op, format string, args ...any) *Error {
	return &Error{Kind: k, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// client is one MCP client over one keep-alive connection. Not safe for
// concurrent use.
type client struct {
	era     Era
	check   Check
	tool    string
	prefix  []byte // per-client text prefix, so every echo text is unique
	t       target
	c       *conn
	req     request
	body    []byte
	hdr     []header // headers every call carries
	sid     string
	version string
	next    int64
	msg     message
	sse     []byte
}

// clientOptions are what every client of a batch shares.
type clientOptions struct {
	era     Era
	check   Check
	tool    string
	token   string
	maxBody int
	timeout time.Duration
}

func newClient(t target, o clientOptions, n int) *client {
	c := &client{era: o.era, check: o.check, tool: o.tool, t: t, c: newConn(t, o.maxBody, o.timeout), next: 1}
	if o.token != "" {
		c.req.auth = "Bearer " + o.token
	}
	c.prefix = append(strconv.AppendInt([]byte("c"), int64(n), 10), '-')
	if o.era == EraModern {
		c.version = VersionModern
		c.hdr = []header{
			{"MCP-Protocol-Version", VersionModern},
			{"Mcp-Method", "tools/call"},
			{"Mcp-Name", o.tool},
		}
	}
	return c
}

// Close closes the client's connection.
func (c *client) Close() { c.c.Close() }

const initializeBody = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + VersionLegacy +
	`","capabilities":{},"clientInfo":{"name":"mcpload","version":"1.0.0"}}}`

const initializedBody = `{"jsonrpc":"2.0","method":"notifications/initialized"}`

const modernMeta = `,"_meta":{"io.modelcontextprotocol/protocolVersion":"` + VersionModern +
	`","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"mcpload","version":"1.0.0"}}`

// setup performs the legacy handshake (basic/lifecycle "Initialization"):
// initialize, then notifications/initialized, which a Streamable HTTP
// server acknowledges with 202. Other eras have nothing to set up.
func (c *client) setup(ctx context.Context) error {
	if c.era != EraLegacy {
		return nil
	}
	req := c.req.build("POST", c.t, nil, []byte(initializeBody))
	resp, err := c.c.roundTrip(ctx, req, false)
	if err != nil {
		return &Error{Kind: KindTransport, Op: "initialize", Msg: err.Error()}
	}
	if err := c.reply(resp, "initialize", []byte("0")); err != nil {
		return err
	}
	if c.msg.version == nil {
		return failf(KindProtocol, "initialize", "result has no protocolVersion")
	}
	c.version = unquote(c.msg.version)
	c.sid = string(resp.sessionID)
	c.hdr = c.hdr[:0]
	if c.sid != "" {
		c.hdr = append(c.hdr, header{"Mcp-Session-Id", c.sid})
	}
	c.hdr = append(c.hdr, header{"MCP-Protocol-Version", c.version})
	req = c.req.build("POST", c.t, c.hdr, []byte(initializedBody))
	resp, err = c.c.roundTrip(ctx, req, false)
	if err != nil {
		return &Error{Kind: KindTransport, Op: "notifications/initialized", Msg: err.Error()}
	}
	if resp.status != 202 {
		return failf(KindStatus, "notifications/initialized", "HTTP %d, want 202: %s", resp.status, snippet(resp.body))
	}
	return nil
}

// call sends one tools/call and verifies the reply.
func (c *client) call(ctx context.Context) error {
	id := c.next
	c.next++
	b := append(c.body[:0], `{"jsonrpc":"2.0","id":`...)
	idStart := len(b)
	b = strconv.AppendInt(b, id, 10)
	idEnd := len(b)
	b = append(b, `,"method":"tools/call","params":{"name":"`...)
	b = append(b, c.tool...)
	b = append(b, `","arguments":{"text":"`...)
	textStart := len(b)
	b = append(b, c.prefix...)
	b = strconv.AppendInt(b, id, 10)
	textEnd := len(b)
	b = append(b, `"}`...)
	if c.era == EraModern {
		b = append(b, modernMeta...)
	}
	b = append(b, "}}"...)
	c.body = b
	req := c.req.build("POST", c.t, c.hdr, b)
	resp, err := c.c.roundTrip(ctx, req, false)
	if err != nil {
		return &Error{Kind: KindTransport, Op: "tools/call", Msg: err.Error()}
	}
	wantID := b[idStart:idEnd]
	if c.check == CheckShape {
		wantID = nil
	}
	if err := c.reply(resp, "tools/call", wantID); err != nil {
		return err
	}
	switch {
	case c.msg.isError:
		return failf(KindRPC, "tools/call", "tool result has isError: %s", snippet(resp.body))
	case c.msg.text == nil:
		return failf(KindProtocol, "tools/call", "result has no text content: %s", snippet(resp.body))
	case c.check == CheckEcho && !stringIs(c.msg.text, string(b[textStart:textEnd])):
		return failf(KindProtocol, "tools/call", "echo text %s, want %q", snippet(c.msg.text), b[textStart:textEnd])
	}
	return nil
}

// reply checks that resp is a 200 carrying, as application/json or as an
// SSE stream (2025-11-25 and 2026-07-28 transports "Sending Messages to the
// Server"), a JSON-RPC result for wantID (any id when wantID is nil), and
// leaves that message in c.msg.
func (c *client) reply(resp *response, op string, wantID []byte) error {
	if resp.status != 200 {
		return failf(KindStatus, op, "HTTP %d: %s", resp.status, snippet(resp.body))
	}
	switch mediaType(resp.contentType) {
	case "application/json":
		if err := scanMessage(resp.body, &c.msg); err != nil {
			return failf(KindProtocol, op, "%v: %s", err, snippet(resp.body))
		}
		if wantID != nil && !bytes.Equal(c.msg.id, wantID) {
			return failf(KindProtocol, op, "response id %s, want %s", snippet(c.msg.id), wantID)
		}
	case "text/event-stream":
		var scanErr error
		found := false
		c.sse = eachEvent(resp.body, c.sse, func(data []byte) bool {
			if len(bytes.TrimSpace(data)) == 0 {
				return true // a priming event (2025-11-25 transports)
			}
			if err := scanMessage(data, &c.msg); err != nil {
				scanErr = err
				return false
			}
			if c.msg.method || (wantID != nil && !bytes.Equal(c.msg.id, wantID)) {
				return true // a notification or request, or another reply
			}
			found = true
			return false
		})
		if scanErr != nil {
			return failf(KindProtocol, op, "SSE event: %v: %s", scanErr, snippet(resp.body))
		}
		if !found {
			return failf(KindProtocol, op, "SSE stream ended without the response: %s", snippet(resp.body))
		}
	default:
		return failf(KindProtocol, op, "Content-Type %q: %s", resp.contentType, snippet(resp.body))
	}
	if c.msg.err != nil {
		return failf(KindRPC, op, "JSON-RPC error %s", snippet(c.msg.err))
	}
	if !c.msg.result {
		return failf(KindProtocol, op, "neither result nor error: %s", snippet(resp.body))
	}
	return nil
}

// openStream opens the session's GET stream (2025-11-25 transports
// "Listening for Messages from the Server") and leaves it unread. With
// blind set it only sends the request, for a server that holds the
// stream without ever sending its headers.
func (c *client) openStream(ctx context.Context, blind bool) error {
	req := c.req.build("GET", c.t, c.hdr, nil)
	if blind {
		if c.c.nc == nil {
			if err := c.c.dial(ctx); err != nil {
				return &Error{Kind: KindTransport, Op: "GET", Msg: err.Error()}
			}
		}
		if _, err := c.c.nc.Write(req); err != nil {
			return &Error{Kind: KindTransport, Op: "GET", Msg: err.Error()}
		}
		return nil
	}
	resp, err := c.c.roundTrip(ctx, req, true)
	if err != nil {
		return &Error{Kind: KindTransport, Op: "GET", Msg: err.Error()}
	}
	if resp.status != 200 || mediaType(resp.contentType) != "text/event-stream" {
		c.c.Close()
		return failf(KindStatus, "GET", "HTTP %d, Content-Type %q, want 200 text/event-stream", resp.status, resp.contentType)
	}
	return nil
}

// terminate ends the session with DELETE (2025-11-25 transports "Session
// Management"). Servers that do not allow it answer 405, which is fine.
func (c *client) terminate(ctx context.Context) error {
	if c.sid == "" {
		return nil
	}
	req := c.req.build("DELETE", c.t, c.hdr, nil)
	resp, err := c.c.roundTrip(ctx, req, false)
	if err != nil {
		return &Error{Kind: KindTransport, Op: "DELETE", Msg: err.Error()}
	}
	switch resp.status {
	case 200, 202, 204, 404, 405:
		return nil
	}
	return failf(KindStatus, "DELETE", "HTTP %d: %s", resp.status, snippet(resp.body))
}

func mediaType(ct []byte) string {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	switch {
	case asciiEqualFold(ct, "application/json"):
		return "application/json"
	case asciiEqualFold(ct, "text/event-stream"):
		return "text/event-stream"
	}
	return strings.ToLower(string(ct))
}

// snippet shortens a body for an error message.
func snippet(b []byte) string {
	const max = 200
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// asError returns err as *Error, wrapping any other error as a transport
// failure of op.
func asError(op string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindTransport, Op: op, Msg: err.Error()}
}
