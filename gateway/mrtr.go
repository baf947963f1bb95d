package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Multi round-trip requests across eras (2026-07-28 basic/patterns/mrtr;
// 2025-11-25 client/elicitation, client/sampling, client/roots).
//
// A 2026-07-28 server asks for client input by answering a call with an
// InputRequiredResult (resultType "input_required", inputRequests keyed by
// the server, an optional opaque requestState); the client retries the same
// call with inputResponses under the same keys and the requestState echoed.
// A legacy server sends elicitation/create, sampling/createMessage or
// roots/list to the client on the call's stream instead and waits for the
// answers. This file bridges the first to a legacy client; mrtrlegacy.go
// bridges the second to a 2026-07-28 client.

const (
	// maxInputRounds bounds the rounds of one bridged call, as clients
	// bound their retries.
	maxInputRounds = 10
	// inputTimeout bounds how long a round waits for the client's answers
	// (a user filling in a form).
	inputTimeout = 10 * time.Minute
	// maxInputRequests bounds the input requests of one round.
	maxInputRequests = 32
)

// inputWaiters holds, per legacy session, the server-to-client requests the
// gateway sent on a call's stream and whose answers it awaits. An answer
// is a POST of the same session: a local or HTTP+SSE upstream's sessions
// are forwarded to the replica that owns them, and in a remote upstream's
// session an answer is forwarded to the replica its id names (sealed, see
// InputAnswerOwner).
type inputWaiters struct {
	mu sync.Mutex
	m  map[inputKey]chan []byte
}

type inputKey struct {
	session [16]byte
	id      string // the request's JSON-RPC id, as JSON
}

func (w *inputWaiters) add(k inputKey) chan []byte {
	ch := make(chan []byte, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[inputKey]chan []byte{}
	}
	w.m[k] = ch
	w.mu.Unlock()
	return ch
}

func (w *inputWaiters) remove(k inputKey) {
	w.mu.Lock()
	delete(w.m, k)
	w.mu.Unlock()
}

// deliver hands a client's response to the request it answers; it reports
// whether one was waiting. A response is taken once.
func (w *inputWaiters) deliver(k inputKey, msg []byte) bool {
	w.mu.Lock()
	ch, ok := w.m[k]
	delete(w.m, k)
	w.mu.Unlock()
	if ok {
		ch <- msg
	}
	return ok
}

// InputKeyMeta is the params._meta member that names, on a legacy
// server-to-client request (elicitation/create, sampling/createMessage,
// roots/list), the key the request has in a 2026-07-28
// InputRequiredResult's inputRequests. A legacy request carries no key of
// its own, so without it the bridge has to invent one and a 2026-07-28
// client retrying under the server's names would not be understood. The
// gateway writes it on the requests it turns an InputRequiredResult into
// (inputToLegacy), and reads it from a legacy upstream's requests
// (inputFromLegacy), so the key crosses any number of era bridges. The
// member is an extension under this project's own _meta prefix (2025-11-25
// basic/index "General fields: _meta"); a peer that does not know it
// ignores it.
const InputKeyMeta = "io.github.mcpfort/inputKey"

// maxInputKeyLen bounds a key read from InputKeyMeta.
const maxInputKeyLen = 64

// namedInputKey returns the key InputKeyMeta gives in a request's params,
// if it is a usable one: 1 to 64 bytes of letters, digits, '.', '_' and
// '-'. Anything else is ignored and the bridge names the request itself.
func namedInputKey(params []byte) (string, bool) {
	meta, ok := jsonx.Get(params, "_meta")
	if !ok || !jsonx.IsObject(meta) {
		return "", false
	}
	v, ok := jsonx.Get(meta, InputKeyMeta)
	if !ok {
		return "", false
	}
	s, ok := jsonx.String(v)
	if !ok || s == "" || len(s) > maxInputKeyLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", false
		}
	}
	return s, true
}

// withInputKey returns params with InputKeyMeta set to key in its _meta
// (params may be absent).
func withInputKey(params []byte, key string) ([]byte, error) {
	if !jsonx.IsObject(params) {
		params = []byte(`{}`)
	}
	meta, ok := jsonx.Get(params, "_meta")
	if !ok || !jsonx.IsObject(meta) {
		meta = []byte(`{}`)
	}
	meta, err := jsonx.Set(meta, InputKeyMeta, jsonx.Quote(key))
	if err != nil {
		return nil, err
	}
	return jsonx.Set(params, "_meta", meta)
}

// inputRequest is one entry of an InputRequiredResult's inputRequests.
type inputRequest struct {
	key    string
	method string
	params []byte
}

// parseInputRequests reads an InputRequiredResult's inputRequests and
// requestState. Only the three input kinds the protocol defines are
// accepted.
func parseInputRequests(res []byte) ([]inputRequest, string, error) {
	state := ""
	if v, ok := jsonx.Get(res, "requestState"); ok {
		s, ok := jsonx.String(v)
		if !ok {
			return nil, "", errors.New("requestState is not a string")
		}
		state = s
	}
	raw, ok := jsonx.Get(res, "inputRequests")
	if !ok || !jsonx.IsObject(raw) {
		return nil, "", errors.New("inputRequests is not an object")
	}
	ms, err := jsonx.ObjectMembers(raw, 64)
	if err != nil {
		return nil, "", err
	}
	if len(ms) > maxInputRequests {
		return nil, "", fmt.Errorf("%d input requests (at most %d)", len(ms), maxInputRequests)
	}
	out := make([]inputRequest, 0, len(ms))
	for _, mb := range ms {
		mv, _ := jsonx.Get(mb.Value, "method")
		method, _ := jsonx.String(mv)
		switch method {
		case mcp.MethodElicitationCreate, mcp.MethodSamplingCreateMessage, mcp.MethodRootsList:
		default:
			return nil, "", fmt.Errorf("input request %q has method %q", mb.Key, method)
		}
		params, _ := jsonx.Get(mb.Value, "params")
		if params != nil && !jsonx.IsObject(params) {
			return nil, "", fmt.Errorf("input request %q: params is not an object", mb.Key)
		}
		out = append(out, inputRequest{key: mb.Key, method: method, params: params})
	}
	slices.SortFunc(out, func(a, b inputRequest) int {
		if a.key < b.key {
			return -1
		}
		if a.key > b.key {
			return 1
		}
		return 0
	})
	return out, state, nil
}

// undeclaredInput returns the client capability an input request needs
// and caps (the client's declared capabilities, raw JSON) lacks, as the
// requiredCapabilities object of a -32021 error, or nil when caps covers
// it. A server MUST NOT send an input request the client has not declared
// support for (2026-07-28 basic/patterns/mrtr "Server Requirements"), nor
// use a capability that was not negotiated (2025-11-25 basic/lifecycle
// "Operation"): elicitation needs "elicitation", with "url" for a
// URL-mode request and "form" (or neither mode, as an empty object means
// form) otherwise (2025-11-25 client/elicitation "Capabilities"); sampling
// needs "sampling", with "tools" when the request offers tools
// (client/sampling "Capabilities"); roots/list needs "roots".
func undeclaredInput(caps []byte, method string, params []byte) []byte {
	has := func(obj []byte, key string) (v []byte, ok bool) {
		if !jsonx.IsObject(obj) {
			return nil, false
		}
		v, ok = jsonx.Get(obj, key)
		return v, ok && jsonx.IsObject(v)
	}
	switch method {
	case mcp.MethodElicitationCreate:
		el, ok := has(caps, "elicitation")
		mv, _ := jsonx.Get(params, "mode")
		if mode, _ := jsonx.String(mv); mode == "url" {
			if _, url := has(el, "url"); !ok || !url {
				return []byte(`{"elicitation":{"url":{}}}`)
			}
			return nil
		}
		_, form := has(el, "form")
		_, url := has(el, "url")
		if !ok || (url && !form) {
			return []byte(`{"elicitation":{"form":{}}}`)
		}
	case mcp.MethodSamplingCreateMessage:
		s, ok := has(caps, "sampling")
		if !ok {
			return []byte(`{"sampling":{}}`)
		}
		if _, tools := jsonx.Get(params, "tools"); tools {
			if _, ok := has(s, "tools"); !ok {
				return []byte(`{"sampling":{"tools":{}}}`)
			}
		}
	case mcp.MethodRootsList:
		if _, ok := has(caps, "roots"); !ok {
			return []byte(`{"roots":{}}`)
		}
	}
	return nil
}

// isInputRequired reports whether a result is an InputRequiredResult.
func isInputRequired(res []byte) bool {
	rt, ok := jsonx.Get(res, "resultType")
	if !ok {
		return false
	}
	s, _ := jsonx.String(rt)
	return s == "input_required"
}

// ---- legacy client, 2026-07-28 upstream ----

// inputToLegacy is the reply of a legacy client's call to a stateless
// upstream. An InputRequiredResult becomes the matching requests to the
// client on the call's stream; once the client answered them all, the call
// is sent again with the answers (inputResponses) and the upstream's
// requestState, and the new answer continues the stream. The client sees
// one call, as with a legacy server.
type inputToLegacy struct {
	g    *Gateway
	c    *Call
	body []byte // what went upstream: sent again, with the answers, each round
	hdr  http.Header
	cur  upstream.Reply
	info upstream.Info

	queue   []*upstream.Event
	done    bool          // the call ended with the client's refusal
	wmu     sync.Mutex    // waiting: Close (a drain) may run beside Next
	waiting []inputWaiter // the round's requests, once written to the client
	state   string
	rounds  int
	nonce   string
}

type inputWaiter struct {
	key string
	k   inputKey
	ch  chan []byte
}

func (g *Gateway) newInputToLegacy(c *Call, body []byte, hdr http.Header, r upstream.Reply) *inputToLegacy {
	var n [6]byte
	_, _ = rand.Read(n[:])
	info := r.Info()
	if info.Status != http.StatusAccepted {
		// The gateway chooses the transport: an input request or an
		// upstream notification needs a stream, a plain answer does not,
		// even when the upstream streamed it. The stream a legacy client
		// would get is not resumable (a stateless upstream keeps no events
		// to replay), so it carries no event ids, and a lone answer goes
		// out as JSON.
		info.Stream, info.Lazy = false, true
	}
	nonce := hex.EncodeToString(n[:])
	if o := g.opts.ReplicaID; o != "" && len(o) <= maxOwnerLen {
		// The ids name this replica, sealed: the client's answer is a
		// POST that may reach another replica, which forwards it here
		// (InputAnswerOwner).
		if sealed, err := g.keys.SealData(g.inputIDPurpose(), append(n[:], o...)); err == nil {
			nonce = sealed
		}
	}
	return &inputToLegacy{g: g, c: c, body: body, hdr: hdr, cur: r, info: info, nonce: nonce}
}

const inputIDPrefix = "mcpfort-input-"

func (g *Gateway) inputIDPurpose() string { return "inputID:" + g.opts.Route }

// InputAnswerOwner returns the replica awaiting a legacy client's answer
// to a request the gateway sent for a 2026-07-28 upstream's
// InputRequiredResult: body must be one JSON-RPC response whose id the
// gateway minted on a replica with a ReplicaID. The session and the
// caller are checked where the answer is delivered.
func (g *Gateway) InputAnswerOwner(body []byte) (owner string, ok bool) {
	if !bytes.Contains(body, []byte(inputIDPrefix)) {
		return "", false
	}
	m, err := jsonrpc.Decode(body, g.opts.Limits)
	if err != nil || m.Kind != jsonrpc.KindResponse {
		return "", false
	}
	s, isStr := jsonx.String([]byte(m.ID.Raw()))
	if !isStr || !strings.HasPrefix(s, inputIDPrefix) {
		return "", false
	}
	s = strings.TrimPrefix(s, inputIDPrefix)
	for range 2 { // -<round>-<index>
		i := strings.LastIndexByte(s, '-')
		if i < 0 {
			return "", false
		}
		s = s[:i]
	}
	plain, err := g.keys.OpenData(g.inputIDPurpose(), s)
	if err != nil || len(plain) <= 6 {
		return "", false
	}
	return string(plain[6:]), true
}

func (r *inputToLegacy) Info() upstream.Info { return r.info }

func (r *inputToLegacy) Close() error {
	r.forget()
	return r.cur.Close()
}

func (r *inputToLegacy) forget() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	for _, w := range r.waiting {
		r.g.bridge.inputs.remove(w.k)
	}
	r.waiting = nil
}

func (r *inputToLegacy) awaiting() []inputWaiter {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.waiting
}

func (r *inputToLegacy) Next(ctx context.Context) (*upstream.Event, error) {
	for {
		if len(r.queue) > 0 {
			ev := r.queue[0]
			r.queue = r.queue[1:]
			return ev, nil
		}
		if r.done {
			return nil, io.EOF
		}
		if r.awaiting() != nil {
			if err := r.retry(ctx); err != nil {
				var refused *clientRefusal
				if errors.As(err, &refused) {
					// The call's answer is the client's error, code and
					// all, not an upstream failure.
					r.done = true
					return errorEvent(r.c.Msg.ID, refused.e), nil
				}
				return nil, err
			}
			continue
		}
		ev, err := r.cur.Next(ctx)
		if err != nil {
			return nil, err
		}
		if len(ev.Data) == 0 {
			return ev, nil
		}
		m, err := ev.Message()
		if err != nil || m.Kind != jsonrpc.KindResponse || m.ID != r.c.Msg.ID || m.Result == nil || !isInputRequired(m.Result) {
			return ev, nil
		}
		if err := r.ask(m); err != nil {
			r.g.log.Warn("upstream input request not bridged", "err", err)
			var je *jsonrpc.Error
			if !errors.As(err, &je) {
				je = jsonrpc.NewError(jsonrpc.CodeInternalError, "the upstream server's request for client input cannot be bridged")
			}
			return errorEvent(m.ID, je), nil
		}
	}
}

// ask turns an InputRequiredResult into requests to the client, queued to
// be written on the call's stream, and registers their ids.
func (r *inputToLegacy) ask(m *jsonrpc.Message) error {
	r.rounds++
	if r.rounds > maxInputRounds {
		return fmt.Errorf("more than %d rounds", maxInputRounds)
	}
	reqs, state, err := parseInputRequests(m.Result)
	if err != nil {
		return err
	}
	if len(reqs) == 0 {
		return errors.New("no input requests")
	}
	for _, q := range reqs {
		// The gateway sends the client only what it declared: an upstream
		// asking for more (it had the client's capabilities in _meta)
		// fails the call as a 2026-07-28 server lacking a capability does
		// (basic/index "Missing Required Client Capabilities").
		if need := undeclaredInput(r.c.Session.ClientCapabilities, q.method, q.params); need != nil {
			e := jsonrpc.NewError(jsonrpc.CodeMissingRequiredClientCapability, "the upstream server asks the client for "+q.method+", which the client did not declare")
			e.Data = append(append([]byte(`{"requiredCapabilities":`), need...), '}')
			return e
		}
	}
	r.state = state
	for i, q := range reqs {
		id := jsonrpc.StringID(fmt.Sprintf("mcpfort-input-%s-%d-%d", r.nonce, r.rounds, i))
		k := inputKey{session: r.c.Session.ID, id: id.Raw()}
		r.wmu.Lock()
		r.waiting = append(r.waiting, inputWaiter{key: q.key, k: k, ch: r.g.bridge.inputs.add(k)})
		r.wmu.Unlock()
		params, err := withInputKey(q.params, q.key)
		if err != nil {
			r.forget()
			return err
		}
		raw := jsonrpc.AppendRequest(nil, id, q.method, params)
		msg, err := jsonrpc.Decode(raw, r.c.limits)
		if err != nil {
			r.forget()
			return err
		}
		r.queue = append(r.queue, upstream.DecodedEvent("", msg))
	}
	return nil
}

// retry waits for the client's answers to the round's requests and sends
// the call again with them.
func (r *inputToLegacy) retry(ctx context.Context) error {
	waiting := r.awaiting()
	defer r.forget()
	timer := time.NewTimer(inputTimeout)
	defer timer.Stop()
	responses := []byte(`{}`)
	for _, w := range waiting {
		var msg []byte
		select {
		case msg = <-w.ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return errors.New("the client did not answer the input request in time")
		}
		m, err := jsonrpc.Decode(msg, r.c.limits)
		if err != nil || m.Kind != jsonrpc.KindResponse {
			return errors.New("the client's answer is not a JSON-RPC response")
		}
		if m.Error != nil || !jsonx.IsObject(m.Result) {
			// The client could not answer: the call fails as it would on a
			// legacy server whose request was refused.
			e, derr := jsonrpc.DecodeError(m.Error)
			if derr != nil {
				e = jsonrpc.NewError(jsonrpc.CodeInternalError, "the client's answer is not a result")
			}
			return &clientRefusal{e}
		}
		if responses, err = jsonx.Set(responses, w.key, m.Result); err != nil {
			return err
		}
	}
	body, err := withInputResponses(r.body, responses, r.state)
	if err != nil {
		return err
	}
	reply, err := r.g.up.Post(ctx, &upstream.Request{
		Body: body, Principal: principalKey(r.c.Principal),
		ProtocolVersion: mcp.Version20260728, Header: r.hdr,
	})
	if err != nil {
		return err
	}
	_ = r.cur.Close()
	r.cur = reply
	return nil
}

// clientRefusal is a legacy client's error answer to an input request: it
// answers the call.
type clientRefusal struct{ e *jsonrpc.Error }

func (c *clientRefusal) Error() string { return "the client refused the input request: " + c.e.Error() }

// withInputResponses returns a request's bytes with params.inputResponses
// and params.requestState set for a retry (2026-07-28 basic/patterns/mrtr
// "Client Behavior").
func withInputResponses(body, responses []byte, state string) ([]byte, error) {
	params, ok := jsonx.Get(body, "params")
	if !ok || !jsonx.IsObject(params) {
		params = []byte(`{}`)
	}
	params, err := jsonx.Set(params, "inputResponses", responses)
	if err != nil {
		return nil, err
	}
	if state != "" {
		params, err = jsonx.Set(params, "requestState", jsonx.Quote(state))
	} else {
		params, err = jsonx.Delete(params, "requestState")
	}
	if err != nil {
		return nil, err
	}
	return jsonx.Set(body, "params", params)
}

// errorEvent is an event carrying the JSON-RPC error response to id.
func errorEvent(id jsonrpc.ID, e *jsonrpc.Error) *upstream.Event {
	return &upstream.Event{Data: jsonrpc.AppendErrorResponse(nil, id, e)}
}
