package stdio

import (
	"strconv"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// route delivers one message from the process to exactly one call or conn,
// or drops it. Never to several: a process shared by several clients must
// not show one client what belongs to another.
//
// Responses go by id, notifications/progress by progress token (both were
// rewritten on the way in, so they are unique within the process),
// notifications/cancelled by the server-to-client request it cancels,
// notifications of a subscriptions/listen by their subscription id, list
// changes and resource updates to a conn's unsolicited queue
// (routeSessionWide), and everything else by attribution (see target).
func (pr *process) route(m *jsonrpc.Message) {
	switch m.Kind {
	case jsonrpc.KindResponse:
		pr.routeResponse(m)
	case jsonrpc.KindNotification:
		switch m.Method {
		case mcp.NotificationProgress:
			pr.routeProgress(m)
		case mcp.NotificationCancelled:
			pr.routeServerCancel(m)
		case mcp.NotificationToolsListChanged, mcp.NotificationPromptsListChanged,
			mcp.NotificationResourcesListChanged, mcp.NotificationResourcesUpdated:
			if !pr.routeSubscription(m) {
				pr.routeSessionWide(m)
			}
		default:
			if !pr.routeSubscription(m) {
				pr.routeOther(m)
			}
		}
	case jsonrpc.KindRequest:
		if m.Method == mcp.MethodPing {
			// The pool is the process's client: it answers pings itself
			// (MCP 2025-11-25 basic/utilities/ping: "The receiver MUST
			// respond promptly with an empty response").
			pr.writeAsync(jsonrpc.AppendResult(nil, m.ID, []byte("{}")))
			return
		}
		pr.routeServerRequest(m)
	}
}

func (pr *process) routeResponse(m *jsonrpc.Message) {
	n, ok := parseUpID(m.ID)
	var c *Call
	if ok {
		pr.mu.Lock()
		c = pr.calls[n]
		if c != nil {
			delete(pr.calls, n)
		}
		pr.mu.Unlock()
	}
	if c == nil {
		if ok && pr.listenEnded(n) {
			return // a cancelled listen's answer: its subscriptions are gone
		}
		// A late answer to a cancelled call, or an id the pool never sent.
		pr.log.Debug("stdio response matches no call in flight; dropped", "id", m.ID.String())
		return
	}
	pr.pool.release(pr, c)
	raw, err := jsonx.Set(m.Raw, "id", []byte(c.origID.Raw()))
	if err != nil {
		c.finish(nil, unavailable("malformed response"))
		return
	}
	// Result and Error still alias the received bytes, which hold the same
	// values: no second validation pass is needed.
	c.finish(&jsonrpc.Message{Kind: jsonrpc.KindResponse, ID: c.origID, Result: m.Result, Error: m.Error, Raw: raw}, nil)
}

// routeProgress delivers notifications/progress to the call whose rewritten
// token it carries, with the client's token put back (MCP 2025-11-25
// basic/utilities/progress).
func (pr *process) routeProgress(m *jsonrpc.Message) {
	tok, ok := member(m.Params, "progressToken")
	var c *Call
	if ok {
		if n, ok := parseNumber(tok); ok {
			pr.mu.Lock()
			if cc := pr.calls[n]; cc != nil && cc.origToken != nil && cc.conn != nil {
				c = cc
			}
			pr.mu.Unlock()
		}
	}
	if c == nil {
		pr.log.Debug("stdio progress notification matches no call; dropped")
		return
	}
	params, err := jsonx.Set(m.Params, "progressToken", c.origToken)
	if err != nil {
		return
	}
	pr.deliverToCall(c, withParams(m, params))
}

// routeServerCancel follows the server's cancellation of one of its own
// requests to the conn that received the request, with the id that conn saw.
func (pr *process) routeServerCancel(m *jsonrpc.Message) {
	rid, ok := member(m.Params, "requestId")
	if !ok {
		return
	}
	id, err := jsonrpc.RawID(rid)
	if err != nil {
		return
	}
	pr.mu.Lock()
	d, ok := pr.srvReqs[id]
	delete(pr.srvReqs, id)
	pr.mu.Unlock()
	if !ok {
		pr.log.Debug("stdio cancellation matches no delivered request; dropped")
		return
	}
	d.conn.dropServerRequest(d.connID)
	params, err := jsonx.Set(m.Params, "requestId", strconv.AppendInt(nil, d.connID, 10))
	if err != nil {
		return
	}
	out := withParams(m, params)
	if d.call == nil || pr.deliverToCall(d.call, out) == late {
		d.conn.pushUnsolicited(out)
	}
}

// routeSubscription delivers a notification of a subscriptions/listen
// stream to the listen call whose (rewritten) id its _meta subscriptionId
// names, with the client's id put back (MCP 2026-07-28 basic/index "_meta":
// notifications on a listen stream carry io.modelcontextprotocol/
// subscriptionId). It reports whether the message carried one.
func (pr *process) routeSubscription(m *jsonrpc.Message) bool {
	meta, ok := member(m.Params, "_meta")
	if !ok || !jsonx.IsObject(meta) {
		return false
	}
	sub, ok := jsonx.Get(meta, mcp.MetaSubscriptionID)
	if !ok {
		return false
	}
	var c *Call
	if id, err := jsonrpc.RawID(sub); err == nil {
		if n, ok := parseUpID(id); ok {
			pr.mu.Lock()
			if cc := pr.calls[n]; cc != nil && cc.conn != nil {
				c = cc
			}
			pr.mu.Unlock()
		}
	}
	if c == nil {
		pr.log.Debug("stdio subscription notification matches no listen call; dropped", "method", m.Method)
		return true
	}
	meta, err := jsonx.Set(meta, mcp.MetaSubscriptionID, []byte(c.origID.Raw()))
	if err != nil {
		return true
	}
	params, err := jsonx.Set(m.Params, "_meta", meta)
	if err != nil {
		return true
	}
	pr.deliverToCall(c, withParams(m, params))
	return true
}

func (pr *process) routeOther(m *jsonrpc.Message) {
	call, conn := pr.target()
	switch {
	case call != nil:
		if pr.deliverToCall(call, m) == late {
			// The call ended meanwhile; the message still belongs to its
			// conn.
			call.conn.pushUnsolicited(m)
		}
	case conn != nil:
		conn.pushUnsolicited(m)
	default:
		pr.log.Debug("stdio notification cannot be attributed to one client; dropped", "method", m.Method)
	}
}

// routeSessionWide delivers a list change or a resource update that
// carries no subscription id to the unsolicited queue of the conn it is
// attributed to (see target), never to a call: such a message concerns the
// session, not the request that happened to be in flight. Over Streamable
// HTTP a server sends it on the session's GET stream (MCP 2025-11-25
// basic/transports: messages on a request's stream "SHOULD relate to the
// originating client request"), and a 2026-07-28 response stream may carry
// only what relates to its request; a 2026-07-28 listen gets its own copy,
// tagged with its subscription id (routeSubscription).
func (pr *process) routeSessionWide(m *jsonrpc.Message) {
	call, conn := pr.target()
	if call != nil {
		conn = call.conn
	}
	if conn == nil {
		pr.log.Debug("stdio notification cannot be attributed to one client; dropped", "method", m.Method)
		return
	}
	conn.pushUnsolicited(m)
}

// routeServerRequest hands a server-to-client request (sampling,
// elicitation, roots) to one conn under an id of that conn's own, since a
// conn may talk to several processes whose ids collide. A request that
// cannot be delivered is answered with an error at once so the server does
// not wait for an answer that will never come.
func (pr *process) routeServerRequest(m *jsonrpc.Message) {
	call, conn := pr.target()
	if call != nil {
		conn = call.conn
	}
	if conn == nil {
		pr.log.Debug("stdio server request cannot be attributed to one client; refused", "method", m.Method)
		pr.refuse(m.ID, "no client to route the request to")
		return
	}
	connID, ok := conn.addServerRequest(pr, m.ID)
	if !ok {
		pr.refuse(m.ID, "client gone")
		return
	}
	raw, err := jsonx.Set(m.Raw, "id", strconv.AppendInt(nil, connID, 10))
	if err != nil {
		conn.dropServerRequest(connID)
		return
	}
	out := &jsonrpc.Message{Kind: jsonrpc.KindRequest, ID: jsonrpc.Int64ID(connID), Method: m.Method, Params: m.Params, Raw: raw}
	pr.mu.Lock()
	if pr.dead {
		pr.mu.Unlock()
		conn.dropServerRequest(connID)
		return
	}
	pr.srvReqs[m.ID] = delivery{conn: conn, connID: connID, call: call}
	pr.mu.Unlock()
	var delivered bool
	switch {
	case call == nil:
		delivered = conn.pushUnsolicited(out)
	default:
		switch pr.deliverToCall(call, out) {
		case queued:
			delivered = true
		case late:
			delivered = conn.pushUnsolicited(out)
		}
	}
	if !delivered {
		pr.mu.Lock()
		delete(pr.srvReqs, m.ID)
		pr.mu.Unlock()
		conn.dropServerRequest(connID)
		pr.refuse(m.ID, "client cannot take the request")
	}
}

// refuse answers a server-to-client request with an error.
func (pr *process) refuse(id jsonrpc.ID, msg string) {
	pr.writeAsync(jsonrpc.AppendErrorResponse(nil, id, jsonrpc.NewError(jsonrpc.CodeInternalError, msg)))
}

// target attributes a message that carries no id or token: to the call when
// exactly one call is in flight; to the conn's unsolicited queue when the
// calls in flight all belong to one conn; otherwise, when the process serves
// one principal (PerSession, PerUser), to the conn that called last; in
// Shared mode to nobody. Open subscriptions/listen calls do not count.
func (pr *process) target() (*Call, *Conn) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var only *Call
	var conn *Conn
	n, same := 0, true
	for _, c := range pr.calls {
		if c.conn == nil {
			continue // the pool's own initialize
		}
		if c.method == mcp.MethodSubscriptionsListen {
			// A listen gets only the notifications tagged with its
			// subscription id (routeSubscription): an open one must not
			// make another call's logs or requests unattributable.
			continue
		}
		n++
		if only == nil {
			only, conn = c, c.conn
		} else if c.conn != conn {
			same = false
		}
	}
	switch {
	case n == 1:
		return only, nil
	case n > 1 && same:
		return nil, conn
	case pr.pool.o.Isolation == Shared:
		return nil, nil
	}
	return nil, pr.lastConn
}

// deliverToCall queues m on c; when c's reader has fallen too far behind, c
// fails (and only c).
func (pr *process) deliverToCall(c *Call, m *jsonrpc.Message) deliverResult {
	r := c.deliver(m)
	if r == full {
		pr.log.Warn("stdio call fell too far behind its server messages; failing it", "limit", pr.pool.o.MaxCallBuffer)
		pr.abandonWithReason(c, overloaded("client too slow to read the call's messages"), true, nil, true)
	}
	return r
}

// member returns the raw value of key in the params object.
func member(params []byte, key string) ([]byte, bool) {
	if params == nil || !jsonx.IsObject(params) {
		return nil, false
	}
	return jsonx.Get(params, key)
}

// withParams returns a copy of notification or request m with new params.
func withParams(m *jsonrpc.Message, params []byte) *jsonrpc.Message {
	raw, err := jsonx.Set(m.Raw, "params", params)
	if err != nil {
		return m
	}
	return &jsonrpc.Message{Kind: m.Kind, ID: m.ID, Method: m.Method, Params: params, Raw: raw}
}
