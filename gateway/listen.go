package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// listenFilter is the notifications a subscriptions/listen stream opted in
// to (2026-07-28 basic/patterns/subscriptions).
type listenFilter struct {
	ToolsListChanged      bool     `json:"toolsListChanged,omitempty"`
	PromptsListChanged    bool     `json:"promptsListChanged,omitempty"`
	ResourcesListChanged  bool     `json:"resourcesListChanged,omitempty"`
	ResourceSubscriptions []string `json:"resourceSubscriptions,omitempty"`
}

func (f *listenFilter) wants(m *jsonrpc.Message) bool {
	switch m.Method {
	case mcp.NotificationToolsListChanged:
		return f.ToolsListChanged
	case mcp.NotificationPromptsListChanged:
		return f.PromptsListChanged
	case mcp.NotificationResourcesListChanged:
		return f.ResourcesListChanged
	case mcp.NotificationResourcesUpdated:
		uri, _ := jsonx.Get(m.Params, "uri")
		s, _ := jsonx.String(uri)
		for _, u := range f.ResourceSubscriptions {
			if u == s {
				return true
			}
		}
	}
	return false
}

// capable keeps what the server's capabilities can deliver.
func (f listenFilter) capable(caps []byte) listenFilter {
	has := func(feature, flag string) bool {
		v, ok := jsonx.Get(orEmpty(caps), feature)
		if !ok || !jsonx.IsObject(v) {
			return false
		}
		b, ok := jsonx.Get(v, flag)
		return ok && string(b) == "true"
	}
	out := listenFilter{
		ToolsListChanged:     f.ToolsListChanged && has("tools", "listChanged"),
		PromptsListChanged:   f.PromptsListChanged && has("prompts", "listChanged"),
		ResourcesListChanged: f.ResourcesListChanged && has("resources", "listChanged"),
	}
	if has("resources", "subscribe") {
		out.ResourceSubscriptions = f.ResourceSubscriptions
	}
	return out
}

// ---- 2026-07-28 client, legacy upstream: subscriptions/listen on top of
// the upstream session's GET stream ----

// hub fans one upstream GET stream out to the listen streams of the
// principal that owns the upstream session (never to anyone else).
type hub struct {
	mu        sync.Mutex
	listeners map[*listener]struct{}
	cancel    context.CancelFunc
	subs      map[string]int // resource URI -> listeners subscribed
}

type listener struct {
	filter listenFilter
	ch     chan *jsonrpc.Message // decoded once, by the pump
	done   chan struct{}         // closed when the upstream stream ends
}

func (g *Gateway) listenLegacy(ctx context.Context, c *Call, us *upSession) (upstream.Reply, error) {
	var req struct {
		Notifications *listenFilter `json:"notifications"`
	}
	if c.Msg.Params != nil {
		if err := json.Unmarshal(c.Msg.Params, &req); err != nil {
			return nil, jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: "+err.Error())
		}
	}
	if req.Notifications == nil {
		return nil, jsonrpc.NewError(jsonrpc.CodeInvalidParams, "Invalid params: notifications is required")
	}
	f := req.Notifications.capable(us.caps)
	l := &listener{filter: f, ch: make(chan *jsonrpc.Message, 64), done: make(chan struct{})}
	if err := g.attach(ctx, c, us, l); err != nil {
		return nil, err
	}
	ack, _ := json.Marshal(map[string]any{"notifications": f})
	ack, _ = jsonx.Set(ack, "_meta", subscriptionMeta(c.Msg.ID))
	r := &listenReply{g: g, us: us, l: l, id: c.Msg.ID,
		first: jsonrpc.AppendNotification(nil, mcp.NotificationSubscriptionsAck, ack)}
	return r, nil
}

func subscriptionMeta(id jsonrpc.ID) []byte {
	return []byte(`{"` + mcp.MetaSubscriptionID + `":` + id.String() + `}`)
}

// attach registers l on the session's hub, starting the upstream GET stream
// and subscribing to resources as needed.
func (g *Gateway) attach(ctx context.Context, c *Call, us *upSession, l *listener) error {
	us.hubMu.Lock()
	defer us.hubMu.Unlock()
	h := us.hub
	if h == nil {
		hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		reply, err := g.up.Get(hctx, &upstream.Request{Session: us.id, Key: us.key, Principal: principalKey(c.Principal), ProtocolVersion: us.version})
		if err != nil {
			cancel()
			if errors.Is(err, upstream.ErrNotSupported) {
				return jsonrpc.NewError(jsonrpc.CodeMethodNotFound, "Method not found: the upstream server offers no notification stream")
			}
			return err
		}
		h = &hub{listeners: map[*listener]struct{}{}, cancel: cancel, subs: map[string]int{}}
		us.hub = h
		go g.pump(hctx, us, h, reply)
	}
	for _, uri := range l.filter.ResourceSubscriptions {
		if h.subs[uri] == 0 {
			if err := g.legacyCall(ctx, c, us, mcp.MethodResourcesSubscribe, uri); err != nil {
				return err
			}
		}
		h.subs[uri]++
	}
	h.mu.Lock()
	h.listeners[l] = struct{}{}
	h.mu.Unlock()
	return nil
}

func (g *Gateway) detach(us *upSession, l *listener) {
	us.hubMu.Lock()
	defer us.hubMu.Unlock()
	h := us.hub
	if h == nil {
		return
	}
	h.mu.Lock()
	delete(h.listeners, l)
	n := len(h.listeners)
	h.mu.Unlock()
	for _, uri := range l.filter.ResourceSubscriptions {
		if h.subs[uri]--; h.subs[uri] <= 0 {
			delete(h.subs, uri)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*1e9)
				defer cancel()
				_ = g.legacyCall(ctx, &Call{}, us, mcp.MethodResourcesUnsubscribe, uri)
			}()
		}
	}
	if n == 0 {
		h.cancel()
		us.hub = nil
	}
}

// pump reads the upstream GET stream and hands each notification to the
// listeners that asked for it.
func (g *Gateway) pump(ctx context.Context, us *upSession, h *hub, reply upstream.Reply) {
	defer reply.Close()
	defer func() {
		h.mu.Lock()
		for l := range h.listeners {
			close(l.done)
		}
		h.listeners = map[*listener]struct{}{}
		h.mu.Unlock()
		us.hubMu.Lock()
		if us.hub == h {
			us.hub = nil
		}
		us.hubMu.Unlock()
	}()
	for {
		ev, err := reply.Next(ctx)
		if err != nil {
			return
		}
		m, err := ev.Message()
		if err != nil || m.Kind != jsonrpc.KindNotification {
			continue // server requests cannot reach a stateless client
		}
		h.mu.Lock()
		for l := range h.listeners {
			if l.filter.wants(m) {
				select {
				case l.ch <- m:
				default: // a listener too slow to read loses notifications, never blocks others
				}
			}
		}
		h.mu.Unlock()
	}
}

// legacyCall sends one request about a resource URI on the upstream
// session and waits for it.
func (g *Gateway) legacyCall(ctx context.Context, c *Call, us *upSession, method, uri string) error {
	params := append(jsonx.Quote(uri), '}')
	params = append([]byte(`{"uri":`), params...)
	return g.legacyCallParams(ctx, c, us, method, params)
}

// legacyCallParams sends one request on the upstream session and waits
// for its result.
func (g *Gateway) legacyCallParams(ctx context.Context, c *Call, us *upSession, method string, params []byte) error {
	body := jsonrpc.AppendRequest(nil, jsonrpc.StringID("mcpfort-"+method+"-"+strconv.FormatUint(seq.Add(1), 10)), method, params)
	reply, err := g.up.Post(ctx, &upstream.Request{Body: body, Session: us.id, Key: us.key, Principal: principalKey(c.Principal), ProtocolVersion: us.version})
	if err != nil {
		return err
	}
	_, err = upstream.FinalResult(ctx, reply)
	return err
}

var seq atomic.Uint64

// listenReply is the client's subscriptions/listen stream.
type listenReply struct {
	g     *Gateway
	us    *upSession
	l     *listener
	id    jsonrpc.ID
	first []byte
	ended bool
}

func (r *listenReply) Info() upstream.Info { return upstream.Info{Status: http.StatusOK, Stream: true} }

func (r *listenReply) Next(ctx context.Context) (*upstream.Event, error) {
	if r.first != nil {
		b := r.first
		r.first = nil
		return &upstream.Event{Data: b}, nil
	}
	if r.ended {
		return nil, io.EOF
	}
	select {
	case m := <-r.l.ch:
		params := m.Params
		if params == nil {
			params = []byte(`{}`)
		}
		meta, ok := jsonx.Get(params, "_meta")
		if !ok || !jsonx.IsObject(meta) {
			meta = []byte(`{}`)
		}
		meta, _ = jsonx.Set(meta, mcp.MetaSubscriptionID, []byte(r.id.String()))
		params, _ = jsonx.Set(params, "_meta", meta)
		return &upstream.Event{Data: jsonrpc.AppendNotification(nil, m.Method, params)}, nil
	case <-r.l.done:
		// The upstream ended the stream: end the subscription gracefully
		// with its result (subscriptions: the result is sent when the
		// server tears the subscription down).
		r.ended = true
		return &upstream.Event{Data: jsonrpc.AppendResult(nil, r.id, []byte(`{"resultType":"complete","_meta":{}}`))}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *listenReply) Close() error {
	r.g.detach(r.us, r.l)
	return nil
}

// ---- legacy client, 2026-07-28 upstream: the GET stream on top of
// subscriptions/listen ----

// getFromModern serves a legacy session's GET stream from a stateless
// upstream by opening subscriptions/listen for the list changes it can
// announce and the resources the session subscribed to.
func (g *Gateway) getFromModern(ctx context.Context, c *Call) (upstream.Reply, error) {
	d, err := g.discover(ctx)
	if err != nil {
		return nil, err
	}
	f := listenFilter{ToolsListChanged: true, PromptsListChanged: true, ResourcesListChanged: true, ResourceSubscriptions: g.bridge.subscriptions(c.Session.ID)}.capable(d.caps)
	params, _ := json.Marshal(map[string]any{"notifications": f})
	id := jsonrpc.StringID("mcpfort-listen-" + strconv.FormatUint(seq.Add(1), 10))
	raw := jsonrpc.AppendRequest(nil, id, mcp.MethodSubscriptionsListen, params)
	m, err := jsonrpc.Decode(raw, jsonrpc.Limits{})
	if err != nil {
		return nil, err
	}
	body, err := injectMeta(m, nil, c.Session.ClientCapabilities, c.Session.ClientInfo, g.bridge.level(c.Session.ID))
	if err != nil {
		return nil, err
	}
	reply, err := g.up.Post(ctx, &upstream.Request{
		Body: body, Principal: principalKey(c.Principal), ProtocolVersion: mcp.Version20260728,
		Header: http.Header{mcp.HeaderMethod: {mcp.MethodSubscriptionsListen}},
	})
	if err != nil {
		return nil, err
	}
	info := reply.Info()
	if info.Status != http.StatusOK {
		reply.Close()
		return nil, upstream.ErrNotSupported
	}
	// The client gets the notifications only: not the acknowledgement, not
	// the listen result (it never sent the request).
	return &streamOnly{Reply: TransformReply(reply, func(ev *upstream.Event) ([]byte, error) {
		m, err := ev.Message()
		if err != nil || m.Kind != jsonrpc.KindNotification || m.Method == mcp.NotificationSubscriptionsAck {
			return nil, nil
		}
		return ev.Data, nil
	})}, nil
}

// streamOnly presents a reply as a stream from the start.
type streamOnly struct{ upstream.Reply }

func (s *streamOnly) Info() upstream.Info {
	i := s.Reply.Info()
	i.Stream, i.Lazy = true, false
	return i
}
