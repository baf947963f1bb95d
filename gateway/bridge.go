package gateway

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// bridgeState is what a replica keeps to bridge eras: the upstream sessions
// it opened on behalf of 2026-07-28 clients, the log levels legacy clients
// set, and the upstream's server/discover answer. All of it is a cache:
// losing it costs a re-initialize or a re-discover, never a client error.
type bridgeState struct {
	mu       sync.Mutex
	sessions map[string]*list.Element // key -> *upSession, LRU-ordered
	lru      *list.List
	max      int

	levels map[[16]byte]string
	subs   map[[16]byte][]string // resource subscriptions of legacy sessions on stateless upstreams
	inputs inputWaiters          // legacy clients' answers awaited by bridged calls (mrtr.go)
	parked parkedTable           // legacy upstream calls awaiting 2026-07-28 clients' answers (mrtrlegacy.go)
	nextID atomic.Uint64         // ids of 2026-07-28 calls in upstream sessions

	discoverMu sync.Mutex
	discovered *discovery
}

func newBridgeState() *bridgeState {
	return &bridgeState{sessions: map[string]*list.Element{}, lru: list.New(), max: 10000, levels: map[[16]byte]string{}, subs: map[[16]byte][]string{}}
}

func (b *bridgeState) forget(id [16]byte) {
	b.mu.Lock()
	delete(b.levels, id)
	delete(b.subs, id)
	b.mu.Unlock()
}

// subscribe records (or, with on false, removes) a resource subscription
// of a legacy session; the session's next GET stream listens for it.
func (b *bridgeState) subscribe(id [16]byte, uri string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.subs[id]
	for i, u := range list {
		if u == uri {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if on && len(list) < 256 {
		list = append(list, uri)
	}
	if len(list) == 0 {
		delete(b.subs, id)
		return
	}
	if len(b.subs) >= b.max {
		for k := range b.subs {
			delete(b.subs, k)
			break
		}
	}
	b.subs[id] = list
}

func (b *bridgeState) subscriptions(id [16]byte) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.subs[id]...)
}

func (b *bridgeState) setLevel(id [16]byte, level string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.levels) >= b.max {
		for k := range b.levels { // drop an arbitrary entry: a lost level only means the default
			delete(b.levels, k)
			break
		}
	}
	b.levels[id] = level
}

func (b *bridgeState) level(id [16]byte) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.levels[id]
}

// upSession is a legacy upstream session held for 2026-07-28 callers of one
// principal (never shared between principals).
type upSession struct {
	once    sync.Once
	err     error
	key     string
	id      string // upstream Mcp-Session-Id
	version string
	caps    []byte // upstream capabilities
	info    []byte // upstream serverInfo
	instr   string

	hubMu sync.Mutex
	hub   *hub // the upstream GET stream shared by this principal's listen streams

	levelMu sync.Mutex
	level   string // the log level last set on the upstream session

	parked atomic.Int32 // calls waiting for client input (mrtrlegacy.go)
}

// wantLevel reports whether the upstream session's log level must change
// to lv, and records it.
func (us *upSession) wantLevel(lv string) bool {
	us.levelMu.Lock()
	defer us.levelMu.Unlock()
	if us.level == lv {
		return false
	}
	us.level = lv
	return true
}

// discovery is an upstream's server/discover answer.
type discovery struct {
	caps, info []byte
	instr      string
	modern     bool // supportedVersions lists 2026-07-28
	expires    time.Time
}

// ---- legacy client, 2026-07-28 upstream ----

// toModern serves a legacy-session call against a stateless upstream: the
// gateway answers the handshake-era methods itself and injects the
// per-request _meta and headers the upstream needs (2026-07-28
// basic/index "_meta"; streamable-http "Request Metadata").
func (g *Gateway) toModern(ctx context.Context, c *Call) (upstream.Reply, error) {
	m := c.Msg
	switch {
	case m.Method == mcp.MethodInitialize:
		return g.initializeFromDiscover(ctx, c)
	case m.Kind == jsonrpc.KindResponse:
		// The client's answer to a request the bridge sent it for a
		// call's InputRequiredResult (mrtr.go); any other has nowhere to
		// go.
		g.bridge.inputs.deliver(inputKey{session: c.Session.ID, id: m.ID.Raw()}, m.Raw)
		return upstream.Accepted(), nil
	case m.Kind != jsonrpc.KindRequest:
		// initialized and cancelled (the stateless upstream cancels when
		// its stream closes) have nowhere to go.
		return upstream.Accepted(), nil
	case m.Method == mcp.MethodPing:
		return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`))), nil
	case m.Method == mcp.MethodLoggingSetLevel:
		lv, _ := jsonx.Get(m.Params, "level")
		s, ok := jsonx.String(lv)
		if !ok || m.Params == nil {
			return nil, jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: level is required")
		}
		g.bridge.setLevel(c.Session.ID, s)
		return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`))), nil
	case m.Method == mcp.MethodResourcesSubscribe || m.Method == mcp.MethodResourcesUnsubscribe:
		// Stateless servers take resource subscriptions on a
		// subscriptions/listen stream: remember the URI for the session's
		// GET stream, which the gateway serves with one.
		d, err := g.discover(ctx)
		if err != nil {
			return nil, err
		}
		if len((listenFilter{ResourceSubscriptions: []string{"x"}}).capable(d.caps).ResourceSubscriptions) == 0 {
			return nil, jsonrpc.NewError(jsonrpc.CodeMethodNotFound, "Method not found: the server does not support resource subscriptions")
		}
		if !c.Params.HasURI {
			return nil, jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: uri is required")
		}
		g.bridge.subscribe(c.Session.ID, c.Params.URI, m.Method == mcp.MethodResourcesSubscribe)
		return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`))), nil
	}
	// The body a policy may have rewritten (masked arguments), not the
	// message as received, with the 2026-07-28 fields added.
	body, err := injectMeta(c.Msg, c.Params.Meta, c.Session.ClientCapabilities, c.Session.ClientInfo, g.bridge.level(c.Session.ID))
	if err != nil {
		return nil, err
	}
	hdr := modernHeaders(c.fwd, m, c.Params)
	reply, err := g.up.Post(ctx, &upstream.Request{
		Body: body, Principal: principalKey(c.Principal),
		ProtocolVersion: mcp.Version20260728, Header: hdr,
	})
	if err != nil {
		return nil, err
	}
	// Legacy clients read JSON-RPC errors from 200 answers.
	return &statusReply{Reply: TransformReply(g.newInputToLegacy(c, body, hdr, reply), legacyResult), status: http.StatusOK}, nil
}

// legacyResult adapts a 2026-07-28 result for a legacy client. A result
// asking for client input that inputToLegacy did not turn into requests
// (not the call's own response) becomes an error.
func legacyResult(ev *upstream.Event) ([]byte, error) {
	data := ev.Data
	m, err := ev.Message()
	if err != nil || m.Kind != jsonrpc.KindResponse || m.Result == nil {
		return data, nil
	}
	if rt, ok := jsonx.Get(m.Result, "resultType"); ok {
		if s, _ := jsonx.String(rt); s == "input_required" {
			return jsonrpc.AppendErrorResponse(nil, m.ID, jsonrpc.NewError(jsonrpc.CodeInternalError,
				"the upstream server asked for client input outside the call's answer")), nil
		}
	}
	return data, nil
}

// statusReply overrides a reply's HTTP status.
type statusReply struct {
	upstream.Reply
	status int
}

func (s *statusReply) Info() upstream.Info {
	i := s.Reply.Info()
	if i.Status >= 400 && i.Status < 500 && !i.Stream {
		i.Status = s.status
	}
	return i
}

// initializeFromDiscover answers a legacy initialize from the upstream's
// server/discover result.
func (g *Gateway) initializeFromDiscover(ctx context.Context, c *Call) (upstream.Reply, error) {
	d, err := g.discover(ctx)
	if err != nil {
		return nil, err
	}
	caps, _ := jsonx.Get(c.Msg.Params, "capabilities")
	info, _ := jsonx.Get(c.Msg.Params, "clientInfo")
	if len(caps) > 4096 || len(info) > 4096 {
		return nil, jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: capabilities or clientInfo too large")
	}
	if caps != nil && !jsonx.IsObject(caps) || info != nil && !jsonx.IsObject(info) {
		return nil, jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: capabilities and clientInfo must be objects")
	}
	c.Session.ClientCapabilities = caps
	c.Session.ClientInfo = info
	res := []byte(`{"protocolVersion":`)
	res = jsonx.AppendQuote(res, c.Session.Version)
	res = append(res, `,"capabilities":`...)
	res = append(res, orEmpty(d.caps)...)
	res = append(res, `,"serverInfo":`...)
	if d.info != nil {
		res = append(res, d.info...)
	} else {
		res = g.appendServerInfo(res)
	}
	if d.instr != "" {
		res = append(res, `,"instructions":`...)
		res = jsonx.AppendQuote(res, d.instr)
	}
	res = append(res, '}')
	return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, res)), nil
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte(`{}`)
	}
	return b
}

func (g *Gateway) appendServerInfo(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = jsonx.AppendQuote(b, g.opts.ServerInfo.Name)
	b = append(b, `,"version":`...)
	b = jsonx.AppendQuote(b, g.opts.ServerInfo.Version)
	return append(b, '}')
}

// discover returns the upstream's server/discover result (2026-07-28
// server/discover), cached for a minute.
func (g *Gateway) discover(ctx context.Context) (*discovery, error) {
	b := g.bridge
	b.discoverMu.Lock()
	defer b.discoverMu.Unlock()
	now := g.now()
	if b.discovered != nil && now.Before(b.discovered.expires) {
		return b.discovered, nil
	}
	params := []byte(`{"_meta":{"` + mcp.MetaProtocolVersion + `":"` + mcp.Version20260728 + `","` + mcp.MetaClientCapabilities + `":{},"` + mcp.MetaClientInfo + `":`)
	params = g.appendServerInfo(params)
	params = append(params, `}}`...)
	body := jsonrpc.AppendRequest(nil, jsonrpc.StringID("mcpfort-discover"), mcp.MethodServerDiscover, params)
	reply, err := g.up.Post(ctx, &upstream.Request{
		Body: body, Principal: "gateway",
		ProtocolVersion: mcp.Version20260728, Header: http.Header{mcp.HeaderMethod: {mcp.MethodServerDiscover}},
	})
	if err != nil {
		return nil, err
	}
	res, err := upstream.FinalResult(ctx, reply)
	if err != nil {
		return nil, fmt.Errorf("server/discover: %w", err)
	}
	d := &discovery{expires: now.Add(time.Minute)}
	if v, ok := jsonx.Get(res, "supportedVersions"); ok {
		var vs []string
		if json.Unmarshal(v, &vs) == nil {
			d.modern = slices.ContainsFunc(vs, mcp.IsModern)
		}
	}
	d.caps, _ = jsonx.Get(res, "capabilities")
	if v, ok := jsonx.Get(res, "instructions"); ok {
		d.instr, _ = jsonx.String(v)
	}
	if meta, ok := jsonx.Get(res, "_meta"); ok && jsonx.IsObject(meta) {
		if info, ok := jsonx.Get(meta, mcp.MetaServerInfo); ok && jsonx.IsObject(info) {
			d.info = info
		}
	}
	b.discovered = d
	return d, nil
}

// injectMeta returns the message's bytes with the 2026-07-28 per-request
// fields in params._meta, keeping whatever _meta the client sent
// (progressToken). meta is the message's params._meta (nil if absent). Only
// _meta is scanned: the message's decoded form says where params and _meta
// sit in its bytes.
func injectMeta(m *jsonrpc.Message, meta, caps, info []byte, level string) ([]byte, error) {
	params := m.Params
	if params == nil || !jsonx.IsObject(params) {
		params = []byte(`{}`)
	}
	oldMeta := meta
	if meta == nil {
		meta = []byte(`{}`)
	}
	var err error
	set := func(k string, v []byte) {
		if err == nil {
			meta, err = jsonx.Set(meta, k, v)
		}
	}
	set(mcp.MetaProtocolVersion, []byte(`"`+mcp.Version20260728+`"`))
	set(mcp.MetaClientCapabilities, orEmpty(caps))
	if info != nil {
		set(mcp.MetaClientInfo, info)
	}
	if level != "" {
		set(mcp.MetaLogLevel, jsonx.Quote(level))
	}
	if err != nil {
		return nil, err
	}
	if params, err = replaceMember(params, oldMeta, "_meta", meta); err != nil {
		return nil, err
	}
	if !jsonx.IsObject(m.Params) {
		// Absent or array params: a 2026-07-28 server reads its fields
		// from an object, so they become one.
		return jsonx.Set(m.Raw, "params", params)
	}
	return replaceMember(m.Raw, m.Params, "params", params)
}

// replaceMember returns a copy of the object obj with the value of member
// key, old, replaced by val. When old is the value as decoding found it (a
// subslice of obj), the edit needs no scan; otherwise jsonx.Set finds the
// member.
func replaceMember(obj, old []byte, key string, val []byte) ([]byte, error) {
	if off, ok := within(obj, old); ok {
		out := make([]byte, 0, len(obj)-len(old)+len(val))
		out = append(out, obj[:off]...)
		out = append(out, val...)
		return append(out, obj[off+len(old):]...), nil
	}
	return jsonx.Set(obj, key, val)
}

// within returns the offset of inner in outer when inner is a non-empty
// subslice of outer (the same array).
func within(outer, inner []byte) (int, bool) {
	if len(inner) == 0 || len(outer) == 0 {
		return 0, false
	}
	off := cap(outer) - cap(inner)
	if off < 0 || off+len(inner) > len(outer) || &outer[off] != &inner[0] {
		return 0, false
	}
	return off, true
}

// modernHeaders adds the Mcp-Method and Mcp-Name headers a 2026-07-28
// upstream requires.
func modernHeaders(fwd http.Header, m *jsonrpc.Message, p mcp.Params) http.Header {
	h := make(http.Header, len(fwd)+2)
	for k, v := range fwd {
		h[k] = v
	}
	h[mcp.HeaderMethod] = []string{m.Method}
	switch mcp.NameField(m.Method) {
	case "name":
		h[mcp.HeaderName] = []string{mcp.EncodeHeaderValue(p.Name)}
	case "uri":
		h[mcp.HeaderName] = []string{mcp.EncodeHeaderValue(p.URI)}
	}
	return h
}

// ---- 2026-07-28 client, legacy upstream ----

// toLegacy serves a stateless call against a legacy upstream through an
// upstream session the gateway holds for the principal, and adds what a
// 2026-07-28 result must carry (basic/index "resultType"; caching: ttlMs,
// cacheScope; resource not found is -32602).
func (g *Gateway) toLegacy(ctx context.Context, c *Call) (upstream.Reply, error) {
	m := c.Msg
	if v, ok := jsonx.Get(m.Params, "requestState"); ok && m.Kind == jsonrpc.KindRequest {
		if s, ok := jsonx.String(v); ok && strings.HasPrefix(s, requestStatePrefix) {
			return g.resumeInput(ctx, c, s)
		}
	}
	for attempt := 0; ; attempt++ {
		us, err := g.upSession(ctx, c)
		if err != nil {
			return nil, err
		}
		if m.Method == mcp.MethodSubscriptionsListen {
			return g.listenLegacy(ctx, c, us)
		}
		if m.Method == mcp.MethodServerDiscover {
			return upstream.Message(jsonrpc.AppendResult(nil, m.ID, g.discoverResult(us))), nil
		}
		if lv := c.Params.LogLevel; lv != "" && us.wantLevel(lv) {
			// 2026-07-28 asks for logs per request; a legacy server keeps
			// one level per session: set it when it changes.
			if err := g.legacyCallParams(ctx, c, us, mcp.MethodLoggingSetLevel, []byte(`{"level":`+string(jsonx.Quote(lv))+`}`)); err != nil {
				g.log.Debug("upstream logging/setLevel failed", "err", err)
			}
		}
		body, err := stripMeta(m, c.Params.Meta)
		if err != nil {
			return nil, err
		}
		// 2026-07-28 clients choose ids per request, not per session: two
		// calls of one principal may both be id 1, which a legacy session
		// refuses while the first is in flight (2025-11-25 basic/index
		// "Requests"). The upstream sees an id of the gateway's; the
		// answer gets the client's back.
		var upID jsonrpc.ID
		if m.Kind == jsonrpc.KindRequest {
			upID = jsonrpc.StringID("mcpfort-" + strconv.FormatUint(g.bridge.nextID.Add(1), 10))
			if body, err = jsonx.Set(body, "id", []byte(upID.Raw())); err != nil {
				return nil, err
			}
		}
		req := &upstream.Request{Body: body}
		if sameBytes(body, m.Raw) {
			req = upstream.Forward(m)
		}
		req.Session, req.Key, req.Principal = us.id, us.key, principalKey(c.Principal)
		req.ProtocolVersion, req.Header = us.version, traceHeaders(c.fwd)
		// The upstream call may outlive the client's request, when it
		// waits for client input (mrtrlegacy.go); until then, the
		// request's end ends it.
		reply, cancelUp, err := g.postDetached(ctx, req)
		if errors.Is(err, upstream.ErrSessionGone) && attempt == 0 {
			g.dropUpSession(us)
			continue
		}
		if err != nil {
			if unknownMethod(err, us.caps, m.Method) {
				return nil, jsonrpc.NewError(jsonrpc.CodeMethodNotFound, "Method not found: "+m.Method)
			}
			return nil, err
		}
		stop := context.AfterFunc(ctx, cancelUp)
		in := &inputFromLegacy{g: g, c: c, us: us, reply: reply, cancel: cancelUp, stop: stop, origID: upID}
		return &modernReply{Reply: TransformReply(in, g.modernResult(c))}, nil
	}
}

// unknownMethod reports whether an upstream's refusal of a request means
// the method is unknown to it: a legacy server may refuse a method it does
// not implement with a bare HTTP 400 instead of a JSON-RPC error, which a
// 2026-07-28 client must get as -32601 with HTTP 404 (streamable-http
// "Request Metadata"). That is so when the upstream's capabilities do not
// cover the method's feature; otherwise the refusal stays an upstream
// failure.
func unknownMethod(err error, caps []byte, method string) bool {
	var hs httpStatuser
	if !errors.As(err, &hs) || hs.HTTPStatus() != http.StatusBadRequest {
		return false
	}
	capability := ""
	for _, f := range [...]struct{ prefix, cap string }{
		{"tools/", "tools"}, {"resources/", "resources"}, {"prompts/", "prompts"},
		{"completion/", "completions"}, {"logging/", "logging"}, {"tasks/", "tasks"},
	} {
		if len(method) > len(f.prefix) && method[:len(f.prefix)] == f.prefix {
			capability = f.cap
			break
		}
	}
	if capability == "" {
		return method != mcp.MethodPing
	}
	_, ok := jsonx.Get(caps, capability)
	return !ok
}

// modernReply presents a legacy upstream's answer the way a 2026-07-28
// server gives it: the gateway chooses the transport (plain JSON, with the
// HTTP status the error code calls for, when the final response comes
// first; streamable-http "Request Metadata"), and the upstream session's
// event ids and priming events, which a stateless client never resumes
// from, stay behind.
type modernReply struct{ upstream.Reply }

func (r *modernReply) Info() upstream.Info {
	i := r.Reply.Info()
	if i.Status != http.StatusAccepted {
		i.Stream, i.Lazy = false, true
	}
	i.PrimingID = ""
	return i
}

func (r *modernReply) Next(ctx context.Context) (*upstream.Event, error) {
	for {
		ev, err := r.Reply.Next(ctx)
		if err != nil {
			return nil, err
		}
		if len(ev.Data) == 0 {
			continue
		}
		if ev.ID != "" || ev.Retry != 0 {
			ev = ev.WithID("")
			ev.Retry = 0
		}
		return ev, nil
	}
}

// postDetached posts a request whose upstream call does not end with ctx;
// the caller ends it with the cancel function returned with the reply.
func (g *Gateway) postDetached(ctx context.Context, req *upstream.Request) (upstream.Reply, context.CancelFunc, error) {
	upCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	reply, err := g.up.Post(upCtx, req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return reply, cancel, nil
}

// stripMeta removes the 2026-07-28 per-request _meta fields, which a legacy
// server would check against a header it is not sent (or reject outright).
// meta is the message's params._meta (nil if absent); as in injectMeta,
// only _meta is scanned. It returns m.Raw itself when there is nothing to
// remove.
func stripMeta(m *jsonrpc.Message, meta []byte) ([]byte, error) {
	if meta == nil || !jsonx.IsObject(m.Params) {
		return m.Raw, nil
	}
	stripped := meta
	var err error
	for _, k := range []string{mcp.MetaProtocolVersion, mcp.MetaClientCapabilities, mcp.MetaClientInfo, mcp.MetaLogLevel} {
		if stripped, err = jsonx.Delete(stripped, k); err != nil {
			return nil, err
		}
	}
	if len(stripped) == len(meta) {
		return m.Raw, nil
	}
	params, err := replaceMember(m.Params, meta, "_meta", stripped)
	if err != nil {
		return nil, err
	}
	return replaceMember(m.Raw, m.Params, "params", params)
}

// traceHeaders keeps only trace context for a legacy upstream.
func traceHeaders(h http.Header) http.Header {
	var out http.Header
	for _, k := range []string{"Traceparent", "Tracestate", "Baggage"} {
		if v, ok := h[k]; ok {
			if out == nil {
				out = http.Header{}
			}
			out[k] = v
		}
	}
	return out
}

func (g *Gateway) discoverResult(us *upSession) []byte {
	// The gateway serves every version it lists here at this endpoint (the
	// legacy ones through sessions), and the same list is what an
	// UnsupportedProtocolVersionError names (2026-07-28 basic/versioning).
	b := []byte(`{"resultType":"complete","supportedVersions":`)
	b = append(b, quoteList(mcp.SupportedVersions())...)
	b = append(b, `,"capabilities":`...)
	b = append(b, orEmpty(us.caps)...)
	if us.instr != "" {
		b = append(b, `,"instructions":`...)
		b = jsonx.AppendQuote(b, us.instr)
	}
	if us.info != nil {
		b = append(b, `,"_meta":{"`+mcp.MetaServerInfo+`":`...)
		b = append(b, us.info...)
		b = append(b, '}')
	}
	b = g.appendCache(b)
	return append(b, '}')
}

func (g *Gateway) appendCache(b []byte) []byte {
	b = append(b, `,"ttlMs":`...)
	b = strconv.AppendInt(b, g.opts.CacheTTL.Milliseconds(), 10)
	b = append(b, `,"cacheScope":`...)
	return jsonx.AppendQuote(b, g.opts.CacheScope)
}

// cacheable lists the 2026-07-28 results that must carry ttlMs and
// cacheScope (server/utilities/caching).
func cacheable(method string) bool {
	switch method {
	case mcp.MethodToolsList, mcp.MethodPromptsList, mcp.MethodResourcesList, mcp.MethodResourcesTemplates, mcp.MethodResourcesRead, mcp.MethodServerDiscover:
		return true
	}
	return false
}

var logLevels = map[string]int{"debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7}

func (g *Gateway) modernResult(c *Call) func(*upstream.Event) ([]byte, error) {
	want, hasLevel := logLevels[c.Params.LogLevel]
	return func(ev *upstream.Event) ([]byte, error) {
		data := ev.Data
		m, err := ev.Message()
		if err != nil {
			return data, nil
		}
		switch m.Kind {
		case jsonrpc.KindNotification:
			if m.Method == mcp.NotificationMessage {
				// 2026-07-28 logging: no notifications/message without a
				// logLevel in the request's _meta, none below it.
				lv, _ := jsonx.Get(m.Params, "level")
				s, _ := jsonx.String(lv)
				if got, ok := logLevels[s]; !hasLevel || !ok || got < want {
					return nil, nil
				}
			}
			return data, nil
		case jsonrpc.KindRequest:
			// A server-to-client request on a stateless stream is not
			// allowed (streamable-http "Receiving Messages"); MRTR bridging
			// is not implemented, so the upstream is told no.
			g.refuseServerRequest(c, m)
			return nil, nil
		}
		if m.Error != nil {
			if e, err := jsonrpc.DecodeError(m.Error); err == nil && e.Code == jsonrpc.CodeResourceNotFound {
				e.Code = jsonrpc.CodeInvalidParams
				return jsonrpc.AppendErrorResponse(nil, m.ID, e), nil
			}
			return data, nil
		}
		res := m.Result
		if !jsonx.IsObject(res) {
			return data, nil
		}
		if _, ok := jsonx.Get(res, "resultType"); !ok {
			// A legacy server that asks for more input in its result (a
			// handler of both eras answering a second round) says so
			// without a resultType.
			rt := []byte(`"complete"`)
			if _, ok := jsonx.Get(res, "inputRequests"); ok {
				rt = []byte(`"input_required"`)
			}
			if res, err = jsonx.Set(res, "resultType", rt); err != nil {
				return data, nil
			}
		}
		if cacheable(c.Msg.Method) {
			if _, ok := jsonx.Get(res, "ttlMs"); !ok {
				res, _ = jsonx.Set(res, "ttlMs", strconv.AppendInt(nil, g.opts.CacheTTL.Milliseconds(), 10))
			}
			if _, ok := jsonx.Get(res, "cacheScope"); !ok {
				res, _ = jsonx.Set(res, "cacheScope", jsonx.Quote(g.opts.CacheScope))
			}
		}
		return jsonrpc.AppendResult(nil, m.ID, res), nil
	}
}

func (g *Gateway) refuseServerRequest(c *Call, m *jsonrpc.Message) {
	us, err := g.upSession(context.Background(), c)
	if err != nil {
		return
	}
	body := jsonrpc.AppendErrorResponse(nil, m.ID, jsonrpc.NewError(jsonrpc.CodeMethodNotFound, "the client cannot answer "+m.Method+" through this gateway"))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := g.up.Post(ctx, &upstream.Request{Body: body, Session: us.id, Key: us.key, Principal: principalKey(c.Principal), ProtocolVersion: us.version})
		if err == nil {
			r.Close()
		}
	}()
}

// upSession returns the legacy upstream session for the call's principal
// and declared client capabilities, initializing one if needed.
func (g *Gateway) upSession(ctx context.Context, c *Call) (*upSession, error) {
	// An upstream session is a session: bound to issuer, subject and
	// client, like the client's own.
	pk := c.Principal.key()
	h := sha256.New()
	h.Write(pk[:])
	h.Write(c.Params.ClientCapabilities)
	base := "bridge-" + hex.EncodeToString(h.Sum(nil)[:16])

	b := g.bridge
	b.mu.Lock()
	var us *upSession
	// A session with a call waiting for client input (mrtrlegacy.go) is
	// passed over for another: a local server's messages are told apart by
	// the calls in flight on the session, and a waiting call may stay for
	// minutes.
	for i := 0; i < maxParkedSessions; i++ {
		key := base
		if i > 0 {
			key += "-" + strconv.Itoa(i)
		}
		el, ok := b.sessions[key]
		if ok {
			b.lru.MoveToFront(el)
			us = el.Value.(*upSession)
		} else {
			us = &upSession{key: key}
			b.sessions[key] = b.lru.PushFront(us)
			for b.lru.Len() > b.max {
				old := b.lru.Back()
				b.lru.Remove(old)
				delete(b.sessions, old.Value.(*upSession).key)
			}
		}
		if us.parked.Load() == 0 {
			break
		}
	}
	b.mu.Unlock()
	us.once.Do(func() { us.err = g.initUpSession(ctx, c, us) })
	if us.err != nil {
		g.dropUpSession(us)
		return nil, us.err
	}
	return us, nil
}

func (g *Gateway) dropUpSession(us *upSession) {
	b := g.bridge
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.sessions[us.key]; ok && el.Value.(*upSession) == us {
		b.lru.Remove(el)
		delete(b.sessions, us.key)
	}
}

func (g *Gateway) initUpSession(ctx context.Context, c *Call, us *upSession) error {
	params := []byte(`{"protocolVersion":"` + mcp.LatestLegacy + `","capabilities":`)
	params = append(params, orEmpty(c.Params.ClientCapabilities)...)
	params = append(params, `,"clientInfo":`...)
	if c.Params.ClientInfo != nil {
		params = append(params, c.Params.ClientInfo...)
	} else {
		params = g.appendServerInfo(params)
	}
	params = append(params, '}')
	body := jsonrpc.AppendRequest(nil, jsonrpc.StringID("mcpfort-init"), mcp.MethodInitialize, params)
	reply, err := g.up.Post(ctx, &upstream.Request{Body: body, Key: us.key, Principal: principalKey(c.Principal)})
	if err != nil {
		return err
	}
	us.id = reply.Info().Session
	res, err := upstream.FinalResult(ctx, reply)
	if err != nil {
		return fmt.Errorf("upstream initialize: %w", err)
	}
	us.version = mcp.LatestLegacy
	if v, ok := jsonx.Get(res, "protocolVersion"); ok {
		if s, ok := jsonx.String(v); ok {
			us.version = s
		}
	}
	us.caps, _ = jsonx.Get(res, "capabilities")
	us.info, _ = jsonx.Get(res, "serverInfo")
	if v, ok := jsonx.Get(res, "instructions"); ok {
		us.instr, _ = jsonx.String(v)
	}
	note := jsonrpc.AppendNotification(nil, mcp.NotificationInitialized, nil)
	r, err := g.up.Post(ctx, &upstream.Request{Body: note, Session: us.id, Key: us.key, Principal: principalKey(c.Principal), ProtocolVersion: us.version})
	if err != nil {
		return fmt.Errorf("upstream initialized notification: %w", err)
	}
	r.Close()
	return nil
}
