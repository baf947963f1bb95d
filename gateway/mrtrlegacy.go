package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// ---- 2026-07-28 client, legacy upstream ----
//
// A legacy upstream asks for client input with requests on the call's
// stream and waits for the answers. The gateway answers the 2026-07-28
// client's call with an InputRequiredResult listing them, and holds the
// upstream call open ("parked", per upstream session: the upstream waits
// on this replica's connection, so nothing else can hold it). The
// requestState it hands the client is sealed with the session keys for
// this route and names the parked call, the principal and an expiry; the
// client's retry carrying it and the inputResponses is turned into the
// responses the upstream waits for, and the rest of the upstream call's
// answer is the retry's. A requestState opens once: an altered or forged
// one, another principal's, an expired one, one already used, or one for
// a call held by another replica is refused with -32602 (2026-07-28
// basic/patterns/mrtr "Server Requirements": requestState MUST be
// integrity-protected when it affects behaviour).

// requestStatePrefix marks the requestState values the gateway mints; any
// other is the upstream's own and passes through.
const requestStatePrefix = "mcpfort1."

const (
	// inputGather is how long the gateway waits, after a first input
	// request, for others the upstream sends at the same time (a tool
	// asking for several inputs at once), so that one round lists them
	// all. A later one only makes another round.
	inputGather = 100 * time.Millisecond
	// maxParked bounds the calls held for clients' answers per route.
	maxParked = 10000
	// maxParkedSessions bounds the upstream sessions of one principal (and
	// set of client capabilities) that new calls may use while earlier
	// ones hold calls waiting for input; past it, calls share a session
	// with a waiting call.
	maxParkedSessions = 8
)

// parkedCall is an upstream call waiting for a 2026-07-28 client's answers.
type parkedCall struct {
	handle      [16]byte
	principal   [16]byte
	method      string
	name        string // tool or prompt name, resource URI: the retry must be the same call
	us          *upSession
	src         *pump
	cancel      context.CancelFunc // ends the upstream call
	origID      jsonrpc.ID         // the id the upstream answers the call with
	upPrincipal string             // the principal as the upstream knows it
	reqs        []parkedRequest
	held        *upstream.Event // an event read past the round's requests
	timer       *time.Timer
}

// parkedRequest is one upstream request awaiting the client's answer.
type parkedRequest struct {
	key    string
	id     jsonrpc.ID
	method string
	params []byte
}

type parkedTable struct {
	mu sync.Mutex
	m  map[[16]byte]*parkedCall
}

func (t *parkedTable) put(p *parkedCall) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[[16]byte]*parkedCall{}
	}
	if len(t.m) >= maxParked {
		return false
	}
	t.m[p.handle] = p
	return true
}

// take removes and returns the parked call: a requestState is good once.
func (t *parkedTable) take(h [16]byte) *parkedCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.m[h]
	delete(t.m, h)
	return p
}

// takeAll removes and returns every parked call.
func (t *parkedTable) takeAll() []*parkedCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*parkedCall, 0, len(t.m))
	for h, p := range t.m {
		out = append(out, p)
		delete(t.m, h)
	}
	return out
}

// pump reads an upstream reply in a goroutine of its own, so that the
// reply can outlive the client request that started it and be read with
// a deadline.
type pump struct {
	ch     chan pumped
	stop   context.CancelFunc
	closer io.Closer
}

type pumped struct {
	ev  *upstream.Event
	err error
}

func startPump(r upstream.Reply) *pump {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pump{ch: make(chan pumped, 16), stop: cancel, closer: r}
	go func() {
		for {
			ev, err := r.Next(ctx)
			select {
			case p.ch <- pumped{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *pump) next(ctx context.Context) (*upstream.Event, error) {
	select {
	case x := <-p.ch:
		return x.ev, x.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pump) close() {
	p.stop()
	_ = p.closer.Close()
}

// inputFromLegacy is the reply of a 2026-07-28 client's call to a legacy
// upstream: it passes the upstream's answer through until the upstream
// asks for client input, then parks the call and ends with an
// InputRequiredResult.
type inputFromLegacy struct {
	g      *Gateway
	c      *Call
	us     *upSession
	reply  upstream.Reply // read directly until input is asked for
	src    *pump          // then through a pump
	held   *upstream.Event
	cancel context.CancelFunc
	stop   func() bool // detaches the upstream call from the client's request
	origID jsonrpc.ID
	parked bool
	done   bool
}

func isInputMethod(method string) bool {
	switch method {
	case mcp.MethodElicitationCreate, mcp.MethodSamplingCreateMessage, mcp.MethodRootsList:
		return true
	}
	return false
}

func (r *inputFromLegacy) Info() upstream.Info { return r.reply.Info() }

func (r *inputFromLegacy) Close() error {
	if r.parked {
		return nil // the parked call owns the upstream reply now
	}
	if r.stop != nil {
		r.stop()
	}
	if r.src != nil {
		r.src.close()
	} else {
		_ = r.reply.Close()
	}
	r.cancel()
	return nil
}

func (r *inputFromLegacy) read(ctx context.Context) (*upstream.Event, error) {
	if r.held != nil {
		ev := r.held
		r.held = nil
		return ev, nil
	}
	if r.src != nil {
		return r.src.next(ctx)
	}
	return r.reply.Next(ctx)
}

func (r *inputFromLegacy) Next(ctx context.Context) (*upstream.Event, error) {
	for {
		if r.done {
			return nil, io.EOF
		}
		ev, err := r.read(ctx)
		if err != nil || len(ev.Data) == 0 {
			return ev, err
		}
		m, err := ev.Message()
		if err != nil {
			return ev, nil
		}
		switch {
		case m.Kind == jsonrpc.KindResponse && m.ID == r.origID && r.origID != r.c.Msg.ID:
			// The upstream answers with the id the gateway gave the call.
			raw, err := jsonx.Set(m.Raw, "id", []byte(r.c.Msg.ID.Raw()))
			if err != nil {
				return nil, err
			}
			return &upstream.Event{Data: raw}, nil
		case m.Kind != jsonrpc.KindRequest || !isInputMethod(m.Method):
			return ev, nil
		}
		reqs, err := r.gather(ctx, parkedRequest{id: m.ID, method: m.Method, params: m.Params})
		if err != nil {
			return nil, err
		}
		if reqs, err = r.refuseUndeclared(ctx, reqs); err != nil {
			return nil, err
		}
		if len(reqs) == 0 {
			continue // the upstream goes on without the input it was refused
		}
		nameInputs(reqs)
		return r.park(reqs)
	}
}

// nameInputs gives each request its key in the InputRequiredResult: the
// one it names with InputKeyMeta when that is unique in the round, else
// input-1, input-2, ... (skipping names taken).
func nameInputs(reqs []parkedRequest) {
	taken := make(map[string]bool, len(reqs))
	for i := range reqs {
		if k, ok := namedInputKey(reqs[i].params); ok && !taken[k] {
			reqs[i].key = k
			taken[k] = true
		}
	}
	n := 0
	for i := range reqs {
		if reqs[i].key != "" {
			continue
		}
		for {
			n++
			if k := "input-" + strconv.Itoa(n); !taken[k] {
				reqs[i].key = k
				taken[k] = true
				break
			}
		}
	}
}

// gather collects, after a first input request, the others the upstream
// sends at the same time (inputGather).
func (r *inputFromLegacy) gather(ctx context.Context, first parkedRequest) ([]parkedRequest, error) {
	reqs := []parkedRequest{first}
	if r.src == nil {
		r.src = startPump(r.reply)
	}
	timer := time.NewTimer(inputGather)
	defer timer.Stop()
	for len(reqs) < maxInputRequests {
		select {
		case x := <-r.src.ch:
			if x.err != nil {
				r.held = nil
				return nil, x.err
			}
			if xm, err := x.ev.Message(); err == nil && len(x.ev.Data) > 0 && xm.Kind == jsonrpc.KindRequest && isInputMethod(xm.Method) {
				reqs = append(reqs, parkedRequest{id: xm.ID, method: xm.Method, params: xm.Params})
				continue
			}
			r.held = x.ev
			return reqs, nil
		case <-timer.C:
			return reqs, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return reqs, nil
}

// refuseUndeclared answers, in the client's stead, the input requests the
// 2026-07-28 client did not declare the capability for, and returns the
// others: the gateway MUST NOT pass them on (2026-07-28
// basic/patterns/mrtr "Server Requirements"), and a legacy client without
// the capability answers such a request "Method not found" (-32601,
// JSON-RPC 2.0 section 5.1), as the SDKs' clients do, which the upstream
// handles as it would from a legacy client.
func (r *inputFromLegacy) refuseUndeclared(ctx context.Context, reqs []parkedRequest) ([]parkedRequest, error) {
	keep := reqs[:0]
	for _, q := range reqs {
		if undeclaredInput(r.c.Params.ClientCapabilities, q.method, q.params) == nil {
			keep = append(keep, q)
			continue
		}
		body := jsonrpc.AppendErrorResponse(nil, q.id, jsonrpc.NewError(jsonrpc.CodeMethodNotFound, "Method not found: the client did not declare the capability for "+q.method))
		resp, err := r.g.up.Post(ctx, &upstream.Request{Body: body, Session: r.us.id, Key: r.us.key, Principal: principalKey(r.c.Principal), ProtocolVersion: r.us.version})
		if err != nil {
			return nil, err
		}
		resp.Close()
	}
	return keep, nil
}

// park holds the upstream call and returns the InputRequiredResult that
// answers the client's call.
func (r *inputFromLegacy) park(reqs []parkedRequest) (*upstream.Event, error) {
	g, c := r.g, r.c
	p := &parkedCall{
		principal: c.Principal.key(), method: c.Msg.Method, name: callTarget(c),
		us: r.us, src: r.src, cancel: r.cancel, origID: r.origID, reqs: reqs, held: r.held,
		upPrincipal: principalKey(c.Principal),
	}
	_, _ = rand.Read(p.handle[:])
	state, err := g.sealRequestState(p)
	if err == nil && g.drainCtx.Err() != nil {
		err = errors.New("shutting down")
	}
	if err == nil && !g.bridge.parked.put(p) {
		err = errors.New("too many calls wait for client input")
	}
	if err != nil {
		g.log.Warn("upstream input request not bridged", "err", err)
		r.done = true
		return errorEvent(c.Msg.ID, jsonrpc.NewError(jsonrpc.CodeInternalError, "the upstream server's request for client input cannot be bridged")), nil
	}
	if r.stop != nil {
		r.stop() // from here the upstream call outlives the client's request
	}
	p.us.parked.Add(1)
	p.timer = time.AfterFunc(inputTimeout, func() {
		if g.bridge.parked.take(p.handle) == p {
			p.us.parked.Add(-1)
			g.endParked(p)
		}
	})
	r.parked, r.done = true, true
	res := []byte(`{"resultType":"input_required","inputRequests":{`)
	for i, q := range reqs {
		if i > 0 {
			res = append(res, ',')
		}
		res = jsonx.AppendQuote(res, q.key)
		res = append(res, `:{"method":`...)
		res = jsonx.AppendQuote(res, q.method)
		// params is optional (roots/list has none), but always written:
		// the go-sdk client (v1.8.0) cannot read an input request
		// without it.
		res = append(res, `,"params":`...)
		res = append(res, orEmpty(q.params)...)
		res = append(res, '}')
	}
	res = append(res, `},"requestState":`...)
	res = jsonx.AppendQuote(res, state)
	res = append(res, '}')
	return &upstream.Event{Data: jsonrpc.AppendResult(nil, c.Msg.ID, res)}, nil
}

// end abandons a parked call: the upstream call is cancelled (2025-11-25
// basic/utilities/cancellation), and its stream closed.
func (g *Gateway) endParked(p *parkedCall) {
	params := []byte(`{"requestId":`)
	params = append(params, p.origID.Raw()...)
	params = append(params, `,"reason":"the client did not answer the input request"}`...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := g.up.Post(ctx, &upstream.Request{Body: jsonrpc.AppendNotification(nil, mcp.NotificationCancelled, params),
		Session: p.us.id, Key: p.us.key, Principal: p.upPrincipal, ProtocolVersion: p.us.version}); err == nil {
		r.Close()
	}
	p.src.close()
	p.cancel()
}

// callTarget names what a call is about (tool, prompt, resource).
func callTarget(c *Call) string {
	if c.Params.HasURI {
		return c.Params.URI
	}
	return c.Params.Name
}

// requestState payload: handle, principal, expiry (Unix seconds), then the
// replica holding the call (Options.ReplicaID; with state.replica_url its
// URL, to which other replicas forward the retry).
const requestStateLen = 16 + 16 + 8

// maxOwnerLen bounds the replica name sealed into a requestState.
const maxOwnerLen = 512

func (g *Gateway) requestStatePurpose() string { return "requestState:" + g.opts.Route }

func (g *Gateway) sealRequestState(p *parkedCall) (string, error) {
	owner := g.opts.ReplicaID
	if len(owner) > maxOwnerLen {
		owner = ""
	}
	b := make([]byte, 0, requestStateLen+len(owner))
	b = append(b, p.handle[:]...)
	b = append(b, p.principal[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(g.now().Add(inputTimeout).Unix()))
	b = append(b, owner...)
	s, err := g.keys.SealData(g.requestStatePurpose(), b)
	if err != nil {
		return "", err
	}
	return requestStatePrefix + s, nil
}

func invalidRequestState() error {
	return jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: requestState is invalid, expired, already used, or held by another server")
}

// RequestStateGone is the answer to a retry whose call was held by a
// replica that is gone (or cannot be reached): the call cannot continue,
// and the client sends it again without requestState. -32602, as for any
// requestState that no longer opens (2026-07-28 basic/patterns/mrtr
// "Server Requirements": state that fails verification is rejected;
// "Error Handling": a protocol error is a JSON-RPC error response).
func RequestStateGone() *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: the call this requestState continues is gone with the server that held it; send the call again without requestState")
}

// openRequestState opens a requestState the gateway minted and checks its
// expiry; it returns the payload's fixed part and the owner.
func (g *Gateway) openRequestState(state string) (plain []byte, owner string, ok bool) {
	plain, err := g.keys.OpenData(g.requestStatePurpose(), strings.TrimPrefix(state, requestStatePrefix))
	if err != nil || len(plain) < requestStateLen || len(plain) > requestStateLen+maxOwnerLen {
		return nil, "", false
	}
	exp := int64(binary.BigEndian.Uint64(plain[32:requestStateLen]))
	if g.now().Unix() > exp {
		return nil, "", false
	}
	return plain[:requestStateLen], string(plain[requestStateLen:]), true
}

// RequestStateOwner returns the replica that holds the call a 2026-07-28
// retry continues, from the params.requestState of the POSTed body: ok is
// false unless body is one request carrying a requestState this route
// minted, sealed with the shared keys and not expired. The principal is
// not checked here: the owner checks it when it serves the retry.
func (g *Gateway) RequestStateOwner(body []byte) (owner string, id jsonrpc.ID, ok bool) {
	if !bytes.Contains(body, []byte(requestStatePrefix)) {
		return "", jsonrpc.ID{}, false
	}
	params, found := jsonx.Get(body, "params")
	if !found {
		return "", jsonrpc.ID{}, false
	}
	v, found := jsonx.Get(params, "requestState")
	if !found {
		return "", jsonrpc.ID{}, false
	}
	s, isStr := jsonx.String(v)
	if !isStr || !strings.HasPrefix(s, requestStatePrefix) {
		return "", jsonrpc.ID{}, false
	}
	if _, owner, ok = g.openRequestState(s); !ok || owner == "" {
		return "", jsonrpc.ID{}, false
	}
	m, err := jsonrpc.Decode(body, g.opts.Limits)
	if err != nil || m.Kind != jsonrpc.KindRequest {
		return "", jsonrpc.ID{}, false
	}
	return owner, m.ID, true
}

// resumeInput serves a retry carrying a requestState the gateway minted:
// the client's inputResponses become the responses the parked upstream
// call waits for, and the rest of its answer answers the retry.
func (g *Gateway) resumeInput(ctx context.Context, c *Call, state string) (upstream.Reply, error) {
	plain, owner, ok := g.openRequestState(state)
	if !ok {
		return nil, invalidRequestState()
	}
	var h, pk [16]byte
	copy(h[:], plain[:16])
	copy(pk[:], plain[16:32])
	mine := c.Principal.key()
	if subtle.ConstantTimeCompare(pk[:], mine[:]) != 1 {
		return nil, invalidRequestState()
	}
	p := g.bridge.parked.take(h)
	if p == nil {
		if owner != "" && owner != g.opts.ReplicaID {
			// Held by another replica, and not forwarded there (no
			// state.replica_url, or the owner was unreachable).
			return nil, RequestStateGone()
		}
		return nil, invalidRequestState()
	}
	p.us.parked.Add(-1)
	if p.method != c.Msg.Method || p.name != callTarget(c) || subtle.ConstantTimeCompare(p.principal[:], mine[:]) != 1 {
		// Not the call the state was minted for: it stays refused, and
		// the parked call ends, as its state was disclosed to a wrong use.
		p.timer.Stop()
		g.endParked(p)
		return nil, invalidRequestState()
	}
	p.timer.Stop()
	responses, _ := jsonx.Get(c.Msg.Params, "inputResponses")
	var missing []parkedRequest
	for _, q := range p.reqs {
		ans, ok := jsonx.Get(responses, q.key)
		if !ok || !jsonx.IsObject(ans) || !jsonx.IsObject(responses) {
			missing = append(missing, q)
			continue
		}
		body := jsonrpc.AppendResult(nil, q.id, ans)
		r, err := g.up.Post(ctx, &upstream.Request{Body: body, Session: p.us.id, Key: p.us.key, Principal: principalKey(c.Principal), ProtocolVersion: p.us.version})
		if err != nil {
			g.endParked(p)
			return nil, err
		}
		r.Close()
	}
	cancelUp := p.cancel
	stop := context.AfterFunc(ctx, cancelUp)
	r := &inputFromLegacy{g: g, c: c, us: p.us, reply: &staticInfo{}, src: p.src, held: p.held, cancel: cancelUp, stop: stop, origID: p.origID}
	if len(missing) > 0 {
		// Asked again for what the retry did not answer (mrtr "Server
		// Requirements": a server re-requests missing input).
		ev, err := r.park(missing)
		if err != nil {
			return nil, err
		}
		return &modernReply{Reply: upstream.Message(ev.Data)}, nil
	}
	return &modernReply{Reply: TransformReply(r, g.modernResult(c))}, nil
}

// staticInfo is the Info of a resumed call's reply: the gateway chooses the
// transport (see modernReply).
type staticInfo struct{ upstream.Reply }

func (staticInfo) Info() upstream.Info { return upstream.Info{Status: 200, Lazy: true} }
