package stdio

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Conn is one client session's view of the pool. Its methods are safe for
// concurrent use; calls on one conn may be in flight concurrently.
//
// A Conn must be closed when the session ends. A PerSession conn also ends
// when its process does (idle timeout, crash): Done is closed, Call and Send
// return ErrGone, and the gateway should answer the session's requests with
// 404 so that the client initializes a new session.
type Conn struct {
	pool *Pool
	key  string
	slot *userSlot // PerUser
	init []byte

	mu          sync.Mutex
	proc        *process // PerSession: its process; Shared: the last one used
	calls       map[jsonrpc.ID]*Call
	srvReqs     map[int64]srvRequest
	nextSrvID   int64
	closed      bool
	gone        bool
	unsolicited chan *jsonrpc.Message
	done        chan struct{}
}

// srvRequest is a server-to-client request delivered to a conn, awaiting the
// client's response.
type srvRequest struct {
	proc *process
	id   jsonrpc.ID // the process's id
}

func newConn(p *Pool, key string) *Conn {
	return &Conn{
		pool:        p,
		key:         key,
		calls:       make(map[jsonrpc.ID]*Call),
		srvReqs:     make(map[int64]srvRequest),
		unsolicited: make(chan *jsonrpc.Message, p.o.UnsolicitedBuffer),
		done:        make(chan struct{}),
	}
}

// Key returns the key the conn was acquired with.
func (c *Conn) Key() string { return c.key }

// InitializeResult returns the raw InitializeResult the pool got when it
// initialized the conn's process (Options.InitializeParams), or nil when
// initialize is passed through. The gateway answers the client's initialize
// with it (adjusting the protocol version as it negotiates).
func (c *Conn) InitializeResult() []byte { return c.init }

// Done is closed when the conn can no longer be used: Close was called, the
// pool closed, or (PerSession) its process ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Unsolicited delivers the server messages that belong to this conn but to
// none of its calls (list changes, logs between calls, server-to-client
// requests made outside a call), for the client's GET stream. It holds at
// most Options.UnsolicitedBuffer messages; past that, messages are dropped.
// The channel is closed when the conn ends.
func (c *Conn) Unsolicited() <-chan *jsonrpc.Message { return c.unsolicited }

// Call sends a client request (msg from jsonrpc.Decode) to the upstream and
// returns the call, whose Next yields what the server sends for it.
//
// The request id is replaced by one unique within the process, and a
// params._meta.progressToken by one unique within the process; both are
// restored in what Next returns. When ctx ends before the response, the
// server is sent notifications/cancelled and the call ends with ErrCancelled
// (or CodeUpstreamTimeout for a deadline).
//
// Call waits for a process and an in-flight slot up to Options.QueueTimeout
// and fails with a *jsonrpc.Error: CodeOverloaded when none came,
// CodeUpstreamUnavailable when the process could not be started or died. A
// PerSession conn whose process ended returns ErrGone. When the pool
// initializes processes itself, an initialize request is answered from the
// kept InitializeResult without reaching the process.
func (c *Conn) Call(ctx context.Context, msg *jsonrpc.Message) (*Call, error) {
	if msg == nil || msg.Kind != jsonrpc.KindRequest {
		return nil, ErrNotRequest
	}
	p := c.pool
	call := newCall(c, msg.ID, msg.Method, p.o.MaxCallBuffer)
	if msg.Method == mcp.MethodInitialize && p.o.InitializeParams != nil {
		resp := jsonrpc.AppendResult(nil, msg.ID, c.init)
		call.finish(&jsonrpc.Message{Kind: jsonrpc.KindResponse, ID: msg.ID, Result: c.init, Raw: resp}, nil)
		return call, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if err := c.usableLocked(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	if _, dup := c.calls[msg.ID]; dup {
		c.mu.Unlock()
		// MCP 2025-11-25 basic/index "Requests": the id MUST NOT have been
		// used before by the requestor in the same session.
		return nil, jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "Invalid Request: request id already in flight")
	}
	c.calls[msg.ID] = call
	c.mu.Unlock()

	pr, err := p.reserveCall(ctx, c)
	if err != nil {
		c.forget(call)
		return nil, err
	}
	if !pr.register(call) {
		p.release(pr, call)
		c.forget(call)
		return nil, c.deadProcessErr()
	}
	c.mu.Lock()
	if c.proc != pr && p.o.Isolation == Shared {
		c.proc = pr
	}
	c.mu.Unlock()

	raw, err := rewriteRequest(msg, call)
	if err != nil {
		pr.abandon(call, err, false)
		return nil, err
	}
	if msg.Method == mcp.MethodSubscriptionsListen {
		pr.settleListens(ctx)
	}
	call.watch(ctx)
	// A context that ended before the write has abandoned the call: do not
	// send a request the process was already told to cancel. (A cancel in
	// the instant between this check and the write reaches the process
	// just before its request, which it ignores; the late response is
	// dropped either way.)
	select {
	case <-call.done:
		_, err := call.Next(context.Background())
		return nil, err
	default:
	}
	if err := pr.write(raw); err != nil {
		pr.abandon(call, err, false)
		return nil, unavailable("process input failed")
	}
	return call, nil
}

// rewriteRequest gives the request the process's id for the call and, when
// it asks for progress, a progress token equal to that id (unique within the
// process, and never mistaken for another call's).
func rewriteRequest(msg *jsonrpc.Message, call *Call) ([]byte, error) {
	id := strconv.AppendInt(nil, call.upID, 10)
	raw := msg.Raw
	// A _meta member needs the bytes "_meta" or an escape in the params;
	// checking that first spares most requests a second walk.
	if ps := msg.Params; ps != nil && jsonx.IsObject(ps) && (bytes.Contains(ps, []byte("_meta")) || bytes.IndexByte(ps, '\\') >= 0) {
		if meta, ok := jsonx.Get(ps, "_meta"); ok && jsonx.IsObject(meta) {
			if tok, ok := jsonx.Get(meta, mcp.MetaProgressToken); ok {
				call.origToken = bytes.Clone(tok)
				meta2, err := jsonx.Set(meta, mcp.MetaProgressToken, id)
				if err != nil {
					return nil, invalidRequest(err)
				}
				ps2, err := jsonx.Set(ps, "_meta", meta2)
				if err != nil {
					return nil, invalidRequest(err)
				}
				if raw, err = jsonx.Set(raw, "params", ps2); err != nil {
					return nil, invalidRequest(err)
				}
			}
		}
	}
	raw, err := jsonx.Set(raw, "id", id)
	if err != nil {
		return nil, invalidRequest(err)
	}
	return oneLine(raw, true), nil
}

func invalidRequest(err error) error {
	return jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "Invalid Request: "+err.Error())
}

// Send forwards a client notification, or the client's response to a
// server-to-client request this conn received (other responses fail with
// ErrUnknownRequest). notifications/cancelled is translated to the call it
// names and ends that call; notifications/initialized is swallowed when the
// pool initialized the process itself. In Shared mode other notifications go
// to the process of the conn's most recent call, or nowhere.
func (c *Conn) Send(ctx context.Context, msg *jsonrpc.Message) error {
	if msg == nil {
		return ErrNotRequest
	}
	c.mu.Lock()
	err := c.usableLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	switch msg.Kind {
	case jsonrpc.KindResponse:
		return c.sendResponse(msg)
	case jsonrpc.KindNotification:
	default:
		return ErrNotRequest
	}
	switch msg.Method {
	case mcp.NotificationCancelled:
		c.cancelFromClient(msg)
		return nil
	case mcp.NotificationInitialized:
		if c.pool.o.InitializeParams != nil {
			return nil
		}
	}
	pr := c.process()
	if pr == nil {
		c.pool.log.Debug("stdio notification has no process to go to; dropped", "method", msg.Method)
		return nil
	}
	if err := pr.write(oneLine(msg.Raw, false)); err != nil {
		return c.deadProcessErr()
	}
	return nil
}

// process returns the process the conn's notifications go to.
func (c *Conn) process() *process {
	if s := c.slot; s != nil {
		c.pool.mu.Lock()
		defer c.pool.mu.Unlock()
		return s.proc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

func (c *Conn) sendResponse(msg *jsonrpc.Message) error {
	n, ok := parseUpID(msg.ID)
	c.mu.Lock()
	r, found := c.srvReqs[n]
	if ok && found {
		delete(c.srvReqs, n)
	}
	c.mu.Unlock()
	if !ok || !found {
		return ErrUnknownRequest
	}
	r.proc.mu.Lock()
	if d, ok := r.proc.srvReqs[r.id]; ok && d.conn == c && d.connID == n {
		delete(r.proc.srvReqs, r.id)
	}
	r.proc.mu.Unlock()
	raw, err := jsonx.Set(msg.Raw, "id", []byte(r.id.Raw()))
	if err != nil {
		return invalidRequest(err)
	}
	// The server that asked may be gone; the client's answer was still
	// acceptable, so that is not the client's error.
	_ = r.proc.write(oneLine(raw, true))
	return nil
}

// cancelFromClient ends the call named by the client's notifications/cancelled
// and passes the cancellation on with the process's id (MCP 2025-11-25
// basic/utilities/cancellation). Unknown ids are ignored, as the spec allows.
func (c *Conn) cancelFromClient(msg *jsonrpc.Message) {
	rid, ok := member(msg.Params, "requestId")
	if !ok {
		return
	}
	id, err := jsonrpc.RawID(rid)
	if err != nil {
		return
	}
	c.mu.Lock()
	call := c.calls[id]
	c.mu.Unlock()
	if call == nil || call.proc == nil {
		return
	}
	reason, _ := member(msg.Params, "reason")
	call.proc.abandonWithReason(call, errors.Join(ErrCancelled, errors.New("cancelled by the client")), true, reason, false)
}

// Close ends the conn. Its calls in flight are abandoned (the processes are
// told), pending server-to-client requests are answered with an error, and
// Unsolicited and Done are closed. A PerSession conn's process is stopped
// (in the background; Pool.Close waits for it). Close is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closeLocked()
	calls := make([]*Call, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	srv := c.srvReqs
	c.srvReqs = nil
	pr := c.proc
	c.mu.Unlock()

	p := c.pool
	if p.o.Isolation == PerSession {
		if pr != nil {
			p.stop(pr)
		}
	} else {
		for _, call := range calls {
			if call.proc != nil {
				call.proc.abandon(call, ErrClosed, true)
			}
		}
		for _, r := range srv {
			r.proc.mu.Lock()
			delete(r.proc.srvReqs, r.id)
			r.proc.mu.Unlock()
			r.proc.refuse(r.id, "client gone")
		}
	}
	p.connClosed(c)
	return nil
}

func (c *Conn) closeLocked() {
	c.closed = true
	close(c.unsolicited)
	close(c.done)
}

// markGone ends a PerSession conn whose process ended.
func (c *Conn) markGone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.gone = true
	c.closeLocked()
}

func (c *Conn) usableLocked() error {
	switch {
	case c.gone:
		return ErrGone
	case c.closed:
		return ErrClosed
	}
	return nil
}

func (c *Conn) deadProcessErr() error {
	if c.pool.o.Isolation == PerSession {
		return ErrGone
	}
	return unavailable("process exited")
}

// forget removes an ended call.
func (c *Conn) forget(call *Call) {
	c.mu.Lock()
	if c.calls[call.origID] == call {
		delete(c.calls, call.origID)
	}
	c.mu.Unlock()
}

// pushUnsolicited queues m for the GET stream, dropping it when the queue is
// full or the conn closed. It reports whether m was queued.
func (c *Conn) pushUnsolicited(m *jsonrpc.Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	select {
	case c.unsolicited <- m:
		return true
	default:
		c.pool.log.Warn("stdio unsolicited queue full; message dropped", "method", m.Method)
		return false
	}
}

// addServerRequest records a server-to-client request and returns the id
// the conn's client sees for it.
func (c *Conn) addServerRequest(pr *process, id jsonrpc.ID) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, false
	}
	c.nextSrvID++
	c.srvReqs[c.nextSrvID] = srvRequest{proc: pr, id: id}
	return c.nextSrvID, true
}

func (c *Conn) dropServerRequest(connID int64) {
	c.mu.Lock()
	delete(c.srvReqs, connID)
	c.mu.Unlock()
}
