package gateway

import (
	"net/http"

	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// modern serves a 2026-07-28 request: it checks the request metadata the
// spec makes the server check, then hands the request to the plane.
func (g *Gateway) modern(w http.ResponseWriter, r *http.Request, msg *jsonrpc.Message, p mcp.Params, hv string) error {
	switch msg.Kind {
	case jsonrpc.KindResponse:
		// streamable-http "Sending Messages": the client MUST NOT send
		// responses.
		return refuse(http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: clients send no responses in protocol version "+mcp.Version20260728)
	case jsonrpc.KindNotification:
		// No client notifications are defined over HTTP in 2026-07-28;
		// accept and drop them (cancellation is closing the stream).
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if rpcErr := checkModern(r.Header, msg, p, hv); rpcErr != nil {
		return &Error{Status: http.StatusBadRequest, RPC: rpcErr, id: msg.ID}
	}
	if mcp.RemovedInModern(msg.Method) {
		return refuse(http.StatusNotFound, msg.ID, jsonrpc.CodeMethodNotFound, "Method not found: "+msg.Method)
	}
	ctx := r.Context()
	fwd := forwardHeaders(r.Header)
	if field := mcp.NameField(msg.Method); field != "" {
		// Forward Mcp-Name in its canonical encoding (plain when it can
		// be), now that it is known to match the body.
		v := p.Name
		if field == "uri" {
			v = p.URI
		}
		fwd[mcp.HeaderName] = []string{mcp.EncodeHeaderValue(v)}
	}
	c := newCall(Call{Route: g.opts.Route, Era: mcp.EraModern, Version: p.ProtocolVersion, Principal: g.principal(ctx),
		Msg: msg, Params: p, Header: r.Header, Catalog: g.catalog, fwd: fwd, limits: g.opts.Limits})
	c.checkHeaders = msg.Method == mcp.MethodToolsCall
	reply, err := g.entry(ctx, c)
	if err != nil {
		return answer(msg.ID, err)
	}
	// Closing the stream cancels the request (streamable-http
	// "Cancellation"): relay closes the reply when the client goes away.
	return g.relay(ctx, w, reply, []jsonrpc.ID{msg.ID}, mcp.EraModern)
}

// checkModern applies the 2026-07-28 request checks in the order that gives
// the most useful error: required _meta fields (basic/index "_meta": -32602),
// the protocol version header against _meta (streamable-http "Protocol
// Version Header": -32020), version support (-32022), then the Mcp-Method
// and Mcp-Name headers against the body (streamable-http "Server
// Validation": -32020).
func checkModern(h http.Header, msg *jsonrpc.Message, p mcp.Params, hv string) *jsonrpc.Error {
	if !p.HasProtocolVersion || p.ClientCapabilities == nil {
		missing := mcp.MetaProtocolVersion
		if p.HasProtocolVersion {
			missing = mcp.MetaClientCapabilities
		}
		return jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: _meta is missing required field "+missing)
	}
	if hv == "" {
		return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: MCP-Protocol-Version header is required")
	}
	if hv != p.ProtocolVersion {
		return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: MCP-Protocol-Version header value '"+hv+"' does not match _meta value '"+p.ProtocolVersion+"'")
	}
	if !mcp.IsModern(p.ProtocolVersion) {
		return versionErr(p.ProtocolVersion)
	}
	hm := h.Values(mcp.HeaderMethod)
	if len(hm) != 1 {
		return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: exactly one Mcp-Method header is required")
	}
	if hm[0] != msg.Method {
		return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: Mcp-Method header value '"+hm[0]+"' does not match body value '"+msg.Method+"'")
	}
	field := mcp.NameField(msg.Method)
	hn := h.Values(mcp.HeaderName)
	if field == "" {
		return nil
	}
	if len(hn) != 1 {
		return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: exactly one Mcp-Name header is required for "+msg.Method)
	}
	name, err := mcp.DecodeHeaderValue(hn[0])
	if err != nil {
		return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: Mcp-Name header has invalid characters or encoding")
	}
	body, has := p.Name, p.HasName
	if field == "uri" {
		body, has = p.URI, p.HasURI
	}
	if !has {
		return jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: params."+field+" is required for "+msg.Method)
	}
	if name != body {
		return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: Mcp-Name header does not match params."+field)
	}
	return nil
}
