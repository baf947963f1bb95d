package gateway

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// post serves a POST to the MCP endpoint: it reads and decodes the body
// once, decides the client's era, and hands each message to the plane.
func (g *Gateway) post(w http.ResponseWriter, r *http.Request) error {
	if !isJSON(first(r.Header["Content-Type"])) {
		return refuse(http.StatusUnsupportedMediaType, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Unsupported Media Type: Content-Type must be application/json")
	}
	if !acceptsReplies(r.Header["Accept"]) {
		// Clients MUST accept both application/json and text/event-stream
		// (2025-11-25 and 2026-07-28 "Sending Messages").
		return refuse(http.StatusNotAcceptable, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Not Acceptable: Accept must list application/json and text/event-stream")
	}
	body, err := transport.ReadBody(w, r, g.opts.MaxBody)
	if err != nil {
		if errors.Is(err, transport.ErrBodyTooLarge) {
			return refuse(http.StatusRequestEntityTooLarge, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Request body too large")
		}
		return refuse(http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError, "Parse error: could not read body")
	}
	msgs, batch, err := jsonrpc.DecodeBody(body, true, g.opts.Limits)
	if err != nil {
		var re *jsonrpc.Error
		if errors.As(err, &re) {
			return &Error{Status: http.StatusBadRequest, RPC: re, id: re.RequestID()}
		}
		return refuse(http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError, "Parse error")
	}
	var one [1]mcp.Params // a lone message's, without an allocation
	params := one[:]
	if len(msgs) > 1 {
		params = make([]mcp.Params, len(msgs))
	}
	modern := false
	for i, m := range msgs {
		p, err := mcp.ParamsOf(m)
		if err != nil {
			reason := "params are malformed"
			var pe *mcp.ParamsError
			if errors.As(err, &pe) {
				reason = pe.Reason
			}
			return refuse(http.StatusBadRequest, m.ID, jsonrpc.CodeInvalidParams, "Invalid params: "+reason)
		}
		// A method the 2026-07-28 revision removed is answered 404 by the
		// era handler, whatever its params.
		removed := mcp.RemovedInModern(m.Method) && (p.HasProtocolVersion || mcp.IsModern(first(r.Header[mcp.HeaderProtocolVersion])))
		if m.Kind == jsonrpc.KindRequest && !removed {
			if member := targetMember(m.Method); member != "" && !hasTarget(p, member) {
				// Policies match their rules against this member; without
				// it they would match nothing, while an upstream reading
				// member names case-insensitively takes {"Name": ...}.
				return refuse(http.StatusBadRequest, m.ID, jsonrpc.CodeInvalidParams, "Invalid params: params."+member+" is required for "+m.Method)
			}
		}
		params[i] = p
		if p.HasProtocolVersion {
			modern = true
		}
	}
	hv := first(r.Header[mcp.HeaderProtocolVersion])
	sid := first(r.Header[mcp.HeaderSessionID])

	switch {
	case !batch && msgs[0].Method == mcp.MethodInitialize && !modern && !mcp.IsModern(hv):
		return g.initialize(w, r, msgs[0], params[0])
	case sid != "" && !modern && !mcp.IsModern(hv):
		return g.legacy(w, &inbound{r: r, msgs: msgs, batch: batch, sid: sid, hv: hv}, params)
	case modern || mcp.IsModern(hv):
		if batch {
			return refuse(http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: batches are not part of protocol version "+mcp.Version20260728)
		}
		return g.modern(w, r, msgs[0], params[0], hv)
	case hv != "" && !mcp.IsSupported(hv):
		return &Error{Status: http.StatusBadRequest, RPC: versionErr(hv), id: firstID(msgs)}
	}
	// A legacy-era message outside a session (2025-11-25 transports
	// "Session Management": requests without the session header SHOULD
	// get 400).
	return refuse(http.StatusBadRequest, firstID(msgs), jsonrpc.CodeInvalidRequest, "Bad Request: Mcp-Session-Id header is required")
}

// inbound is a POST in a legacy session, decoded: the one form of its
// messages (each message's Raw is its bytes, which travel upstream). What
// post read of each message's params goes beside it (legacy's params), so
// that a lone message's can stay on post's stack: escape analysis would
// send them to the heap with the request.
type inbound struct {
	r       *http.Request
	msgs    []*jsonrpc.Message
	batch   bool
	sid, hv string // Mcp-Session-Id and MCP-Protocol-Version
}

func firstID(msgs []*jsonrpc.Message) jsonrpc.ID {
	if len(msgs) == 1 {
		return msgs[0].ID
	}
	return jsonrpc.ID{}
}

// isJSON reports whether a Content-Type is application/json (any
// parameters), without allocating for the common spellings.
func isJSON(ct string) bool {
	if ct == "application/json" || strings.HasPrefix(ct, "application/json;") {
		return true
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json"
}

// acceptsReplies reports whether the Accept header allows both reply
// types. A missing header is tolerated (curl, simple clients); an explicit
// list that rules either out is not.
func acceptsReplies(values []string) bool {
	if len(values) == 0 {
		return true
	}
	if len(values) == 1 {
		switch values[0] {
		case "application/json, text/event-stream", "text/event-stream, application/json", "*/*":
			return true // what clients send, without parsing
		}
	}
	var json, sse bool
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
			switch mt {
			case "application/json", "application/*":
				json = true
			case "text/event-stream", "text/*":
				sse = true
			case "*/*":
				json, sse = true, true
			}
		}
	}
	return json && sse
}

// acceptsSSE reports whether a GET's Accept header allows an event stream.
func acceptsSSE(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
			if mt == "text/event-stream" || mt == "text/*" || mt == "*/*" {
				return true
			}
		}
	}
	return false
}

func quote(s string) []byte { return jsonx.Quote(s) }

func quoteList(ss []string) []byte {
	b := []byte{'['}
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendQuote(b, s)
	}
	return append(b, ']')
}

// targetMember is the params member naming what a request acts on, which
// MCP requires: "name" for tools/call and prompts/get, "uri" for
// resources/read, resources/subscribe and resources/unsubscribe.
func targetMember(method string) string {
	switch method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet:
		return "name"
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		return "uri"
	}
	return ""
}

func hasTarget(p mcp.Params, member string) bool {
	if member == "uri" {
		return p.HasURI
	}
	return p.HasName
}

// first is Header.Get for a name already in canonical form (a constant):
// the field's first value, without canonicalizing the name on every call.
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
