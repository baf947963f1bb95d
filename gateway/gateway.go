package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// UpstreamEra says which protocol era an upstream speaks.
type UpstreamEra uint8

// Upstream eras.
const (
	// EraAuto probes: a client's own era is tried first and the gateway
	// bridges when the upstream answers that it does not speak it
	// (2026-07-28 basic/versioning "Backward Compatibility").
	EraAuto UpstreamEra = iota
	// EraLegacy: the upstream speaks only initialize-based versions.
	EraLegacy
	// EraModern: the upstream speaks only 2026-07-28.
	EraModern
	// EraDual: the upstream serves both eras itself; never bridge.
	EraDual
)

// Options configures a Gateway. Upstream and Keyring are required; every
// other zero value is a documented default.
type Options struct {
	// Route names the route; it is sealed into session ids so a session
	// of one route is unknown on another.
	Route string
	// Upstream is the MCP server behind this route.
	Upstream upstream.Upstream
	// UpstreamEra is what the upstream speaks. If zero, EraAuto.
	UpstreamEra UpstreamEra
	// Keyring seals session ids. Replicas serving the same sessions must
	// share its secrets.
	Keyring *session.Keyring
	// Denylist remembers deleted sessions. If nil, a per-replica memory
	// denylist (use a shared one when running several replicas).
	Denylist session.Denylist
	// SessionTTL is a session's absolute lifetime. If zero, 24h.
	SessionTTL time.Duration
	// Origin validates Origin and Host. The zero value accepts loopback
	// only.
	Origin transport.OriginPolicy
	// MaxBody bounds a POST body. If zero, transport.DefaultMaxBody.
	MaxBody int64
	// Limits bounds JSON nesting and batch size.
	Limits jsonrpc.Limits
	// Principal returns the caller authenticated by the edge (nil for
	// anonymous). If nil, every caller is anonymous.
	Principal func(context.Context) *Principal
	// Middleware are the MCP-plane policies, outermost first.
	Middleware []Middleware
	// ReplicaID is sealed into sessions as their owner.
	ReplicaID string
	// RetryHint is the SSE retry value sent before the gateway closes a
	// stream the client should resume (shutdown, upstream polling). If
	// zero, 1s.
	RetryHint time.Duration
	// CacheTTL and CacheScope are added to 2026-07-28 list and read results
	// bridged from a legacy upstream, which has no such fields
	// (2026-07-28 server/utilities/caching). If zero, 0 ms and "private".
	CacheTTL   time.Duration
	CacheScope string
	// ServerInfo names the gateway in results it makes itself.
	ServerInfo Implementation
	// ToolsTTL is how long the route's tool list answers the checks that
	// need tool definitions (schema, pinning, Mcp-Param-* headers) before
	// it is listed again; see Catalog. If zero, 1 minute.
	ToolsTTL time.Duration
	// Gate, if set, wraps all the gateway does for a call that may reach
	// the upstream: its own checks that list the upstream's tools (the
	// Mcp-Param-* headers of a 2026-07-28 tools/call) and the Middleware
	// chain. A gate that answers a call keeps it from the upstream
	// entirely (the token vault, for users without a grant there).
	Gate Middleware
	// Outer, outermost first, wraps the Gate and the gateway's own checks:
	// what must see every call whoever answers it (observability, the
	// audit log) and the policies that need nothing from the upstream
	// (scopes, rate limits, tool filters), so that a call they refuse
	// never reaches the Gate.
	Outer []Middleware
	// SessionCapabilities keeps a legacy client's capabilities from
	// initialize in its session (sealed into the id) whatever the
	// upstream's era, for policies that answer by them (the token vault
	// asks a client that declared URL-mode elicitation otherwise than one
	// that did not). A stateless upstream's sessions keep them anyway.
	SessionCapabilities bool
	// Logger receives operational logs; it names the route (app gives each
	// route's parts a logger with a "route" attribute), so the gateway's
	// lines do not repeat it. If nil, nothing is logged.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Implementation is an MCP Implementation object (name and version).
type Implementation struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Gateway serves one route's MCP endpoint. It is an http.Handler.
type Gateway struct {
	opts  Options
	up    upstream.Upstream
	keys  *session.Keyring
	deny  session.Denylist
	log   *slog.Logger
	now   func() time.Time
	entry Handler // Outer, the gate, the header checks, Middleware, dispatch

	era eraProbe

	drainCtx context.Context
	drain    context.CancelFunc
	streamMu sync.Mutex
	streams  map[*func()]struct{} // open SSE relays: how to end each on drain
	held     int                  // relays of taken-over GET streams (holdStream)
	heldDone chan struct{}        // closed when held drops to zero, if set

	bridge  *bridgeState
	catalog *Catalog
}

// New returns a Gateway for opts.
func New(opts Options) (*Gateway, error) {
	if opts.Upstream == nil {
		return nil, errors.New("gateway: Upstream is required")
	}
	if opts.Keyring == nil {
		return nil, errors.New("gateway: Keyring is required")
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 24 * time.Hour
	}
	if opts.RetryHint <= 0 {
		opts.RetryHint = time.Second
	}
	if opts.CacheScope == "" {
		opts.CacheScope = "private"
	}
	if opts.ServerInfo.Name == "" {
		opts.ServerInfo = Implementation{Name: "mcpfort", Version: "dev"}
	}
	g := &Gateway{opts: opts, up: opts.Upstream, keys: opts.Keyring, deny: opts.Denylist, log: opts.Logger, now: opts.Now}
	if g.deny == nil {
		g.deny = &session.MemoryDenylist{}
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.era.init(opts.UpstreamEra)
	g.drainCtx, g.drain = context.WithCancel(context.Background())
	g.bridge = newBridgeState()
	g.catalog = NewCatalog(g.dispatch, CatalogOptions{TTL: opts.ToolsTTL, Now: g.now})
	// Outer, then the Gate, the Mcp-Param-* checks, Middleware and
	// dispatch.
	h := g.dispatch
	for i := len(opts.Middleware) - 1; i >= 0; i-- {
		h = opts.Middleware[i](h)
	}
	inner := h
	h = func(ctx context.Context, c *Call) (upstream.Reply, error) {
		if c.checkHeaders {
			if err := g.checkParamHeaders(ctx, c); err != nil {
				return nil, err
			}
		}
		return inner(ctx, c)
	}
	if opts.Gate != nil {
		h = opts.Gate(h)
	}
	for i := len(opts.Outer) - 1; i >= 0; i-- {
		h = opts.Outer[i](h)
	}
	g.entry = func(ctx context.Context, c *Call) (upstream.Reply, error) {
		c.draining = g.drainCtx
		return h(ctx, c)
	}
	return g, nil
}

// Catalog returns the route's tool catalog, for code that learns that the
// upstream's tools changed (notifications/tools/list_changed) and must
// Invalidate it.
func (g *Gateway) Catalog() *Catalog { return g.catalog }

// Drain ends every open SSE stream with a retry hint, so that clients
// resume on another replica, and makes new streams end as soon as they have
// delivered their response. Calls answered with plain JSON run to their
// end. It waits up to 5s for the streams it ended to be written out. It is
// the first step of graceful shutdown.
func (g *Gateway) Drain() {
	g.streamMu.Lock()
	g.drain()
	ends := make([]func(), 0, len(g.streams))
	for f := range g.streams {
		ends = append(ends, *f)
	}
	g.streamMu.Unlock()
	for _, end := range ends {
		end()
	}
	// Calls held for a 2026-07-28 client's input end too: the client's
	// retry will find no call here (-32602) and start over.
	var wg sync.WaitGroup
	for _, p := range g.bridge.parked.takeAll() {
		p.timer.Stop()
		p.us.parked.Add(-1)
		wg.Go(func() { g.endParked(p) })
	}
	wg.Wait()
	// GET streams relayed on taken-over connections are not the HTTP
	// server's to wait for: give them a moment to write their retry hint.
	g.streamMu.Lock()
	if g.held == 0 {
		g.streamMu.Unlock()
		return
	}
	if g.heldDone == nil {
		g.heldDone = make(chan struct{})
	}
	done := g.heldDone
	g.streamMu.Unlock()
	t := time.NewTimer(heldEndTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// track registers an open stream so Drain can end it; the returned func
// unregisters it. A stream opened after Drain ends at once.
func (g *Gateway) track(end func()) (untrack func()) {
	g.streamMu.Lock()
	if g.drainCtx.Err() != nil {
		g.streamMu.Unlock()
		end()
		return func() {}
	}
	if g.streams == nil {
		g.streams = map[*func()]struct{}{}
	}
	key := &end
	g.streams[key] = struct{}{}
	g.streamMu.Unlock()
	return func() {
		g.streamMu.Lock()
		delete(g.streams, key)
		g.streamMu.Unlock()
	}
}

// ServeHTTP implements the MCP endpoint: POST, GET and DELETE. Each
// handler either answers or returns an error having written nothing;
// writeError answers those.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := g.serve(w, r); err != nil {
		g.writeError(w, r, err)
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) error {
	if err := g.opts.Origin.Check(r); err != nil {
		// 2025-11-25 transports: invalid Origin MUST be answered with 403;
		// the body MAY be a JSON-RPC error without an id.
		return refuse(http.StatusForbidden, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Forbidden: "+err.Error())
	}
	switch r.Method {
	case http.MethodPost:
		return g.post(w, r)
	case http.MethodGet:
		return g.get(w, r)
	case http.MethodDelete:
		return g.delete(w, r)
	}
	return notAllowed("GET, POST, DELETE", "Method Not Allowed")
}

// notAllowed is the 405 answer, with the methods that are.
func notAllowed(allow, msg string) *Error {
	e := refuse(http.StatusMethodNotAllowed, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, msg)
	e.Header = http.Header{"Allow": {allow}}
	return e
}

func (g *Gateway) principal(ctx context.Context) *Principal {
	if g.opts.Principal == nil {
		return nil
	}
	return g.opts.Principal(ctx)
}

// eraProbe remembers which eras the upstream has shown it speaks.
type eraProbe struct {
	mu             sync.Mutex
	legacy, modern tri
}

type tri uint8

const (
	unknown tri = iota
	yes
	no
)

func (p *eraProbe) init(e UpstreamEra) {
	switch e {
	case EraLegacy:
		p.legacy, p.modern = yes, no
	case EraModern:
		p.legacy, p.modern = no, yes
	case EraDual:
		p.legacy, p.modern = yes, yes
	}
}

func (p *eraProbe) get() (legacy, modern tri) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.legacy, p.modern
}

func (p *eraProbe) set(legacy, modern tri) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if legacy != unknown {
		p.legacy = legacy
	}
	if modern != unknown {
		p.modern = modern
	}
}

func versionErr(requested string) *jsonrpc.Error {
	data := fmt.Appendf(nil, `{"supported":%s,"requested":%s}`, quoteList(mcp.SupportedVersions()), quote(requested))
	return &jsonrpc.Error{Code: jsonrpc.CodeUnsupportedProtocolVersion, Message: "Unsupported protocol version", Data: data}
}
