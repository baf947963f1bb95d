package pinning

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/auditnote"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/servermsg"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/internal/textcut"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// ServerOptions are the settings of one server (route).
type ServerOptions struct {
	// TrustOnFirstUse pins, once, every definition of the first tool list
	// the server gives (across replicas sharing the store), except
	// definitions with findings unless AllowFindings is set. Later new,
	// renamed or changed tools are quarantined as usual. Off by default:
	// every tool needs an operator's approval or a pin file entry.
	TrustOnFirstUse bool
	// AllowFindings lets trust on first use pin definitions in which the
	// scanner found injection cues. Findings are still logged and stored.
	// Insecure; off by default.
	AllowFindings bool
	// AllowUnapproved only reports: unapproved tools are logged and
	// recorded as candidates but stay listed and callable. Insecure, for
	// rolling the policy out; off by default.
	AllowUnapproved bool
}

// Options configures a Policy. The zero value quarantines every tool that
// is not pinned and keeps pins in memory. Calls are checked against the
// route's tool catalog (gateway.Catalog), whose TTL says how soon a
// changed definition is seen.
type Options struct {
	// Store keeps pins and candidates, shared by replicas. If nil, a
	// MemoryStore (approvals through "mcpfort tools approve" never reach
	// it: use a pin file or a real store).
	Store Store
	// ServerOptions applies to every server not listed in Servers.
	ServerOptions
	// Servers overrides ServerOptions for the servers (routes) it names.
	Servers map[string]ServerOptions
	// PinFile are pins read by ParsePinFile. For each server they name,
	// they are the whole approved set: that server's store pins and trust
	// on first use are ignored.
	PinFile []Pin
	// ExtraCues are further RE2 patterns, matched case-insensitively,
	// whose presence in a definition is an "instruction" finding.
	ExtraCues []string
	// PinCacheTTL is how long pins read from the store are reused before
	// the store is read again: an approval takes effect within it on every
	// replica. If zero, 5s.
	PinCacheTTL time.Duration
	// Logger receives operational logs. If nil, nothing is logged.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Policy is the pinning policy. It is safe for concurrent use.
type Policy struct {
	opts     Options
	store    Store
	scan     *scanner
	log      *slog.Logger
	now      func() time.Time
	filePins map[string]map[string]string

	evalMu sync.Mutex
	evals  map[[sha256.Size]byte]*evaluated

	mu      sync.Mutex
	servers map[string]*serverState
}

// evaluated is one raw tool definition, canonicalised, hashed and scanned.
type evaluated struct {
	def      Definition
	findings []Finding
	err      error
}

// serverState is what one replica knows of one server.
type serverState struct {
	mu           sync.Mutex
	pins         map[string]string // tool -> approved hash
	pinsAt       time.Time
	bootstrapped bool
	judged       map[*gateway.ToolList]chan struct{} // catalog lists judged; closed when judged
	recorded     map[string]time.Time
}

// New returns a Policy for opts.
func New(opts Options) (*Policy, error) {
	if opts.PinCacheTTL <= 0 {
		opts.PinCacheTTL = 5 * time.Second
	}
	sc, err := newScanner(opts.ExtraCues)
	if err != nil {
		return nil, err
	}
	p := &Policy{opts: opts, store: opts.Store, scan: sc, log: opts.Logger, now: opts.Now,
		filePins: map[string]map[string]string{}, evals: map[[sha256.Size]byte]*evaluated{}, servers: map[string]*serverState{}}
	if p.store == nil {
		p.store = NewMemoryStore()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, pin := range opts.PinFile {
		if !validHash(pin.Hash) || pin.Server == "" || pin.Tool == "" {
			return nil, fmt.Errorf("pinning: pin file entry %s/%s is invalid", pin.Server, pin.Tool)
		}
		if p.filePins[pin.Server] == nil {
			p.filePins[pin.Server] = map[string]string{}
		}
		p.filePins[pin.Server][pin.Tool] = pin.Hash
	}
	for name, so := range opts.Servers {
		if so.AllowFindings || so.AllowUnapproved {
			p.log.Warn("pinning: insecure option set", "server", name, "allow_findings", so.AllowFindings, "allow_unapproved", so.AllowUnapproved)
		}
	}
	if opts.AllowFindings || opts.AllowUnapproved {
		p.log.Warn("pinning: insecure option set", "allow_findings", opts.AllowFindings, "allow_unapproved", opts.AllowUnapproved)
	}
	return p, nil
}

func (p *Policy) serverOptions(server string) ServerOptions {
	if so, ok := p.opts.Servers[server]; ok {
		return so
	}
	return p.opts.ServerOptions
}

func (p *Policy) state(server string) *serverState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.servers[server]
	if st == nil {
		st = &serverState{recorded: map[string]time.Time{}, judged: map[*gateway.ToolList]chan struct{}{}}
		p.servers[server] = st
	}
	return st
}

// evaluate canonicalises and scans a raw tool definition, once per
// distinct definition.
func (p *Policy) evaluate(raw []byte) *evaluated {
	return p.evaluateKeyed(sha256.Sum256(raw), raw)
}

// evaluateKeyed is evaluate for a definition whose SHA-256 is known.
func (p *Policy) evaluateKeyed(key [sha256.Size]byte, raw []byte) *evaluated {
	p.evalMu.Lock()
	ev, ok := p.evals[key]
	p.evalMu.Unlock()
	if ok {
		return ev
	}
	ev = &evaluated{}
	ev.def, ev.err = Canonicalize(raw)
	if ev.err == nil {
		ev.findings = p.scan.scan(ev.def.Canonical)
	}
	p.evalMu.Lock()
	if len(p.evals) >= 4096 {
		clear(p.evals) // relearned on demand
	}
	p.evals[key] = ev
	p.evalMu.Unlock()
	return ev
}

// Evaluate canonicalises one tool definition (an element of a tools/list
// result's tools) and scans it for injection cues.
func (p *Policy) Evaluate(tool []byte) (Definition, []Finding, error) {
	ev := p.evaluate(tool)
	return ev.def, ev.findings, ev.err
}

// errStore is answered when the pins cannot be read: the call is refused
// rather than let through unchecked.
var errStore = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "Internal error: tool pins are unavailable"}

// approved returns the approved hash of every pinned tool of server.
func (p *Policy) approved(ctx context.Context, server string, st *serverState) (map[string]string, error) {
	if fp, ok := p.filePins[server]; ok {
		return fp, nil
	}
	now := p.now()
	st.mu.Lock()
	if st.pins != nil && now.Sub(st.pinsAt) < p.opts.PinCacheTTL {
		pins := st.pins
		st.mu.Unlock()
		return pins, nil
	}
	st.mu.Unlock()
	list, err := p.store.Pins(ctx, server)
	if err != nil {
		p.log.Error("pinning: read pins", "server", server, "err", err)
		return nil, errStore
	}
	pins := make(map[string]string, len(list))
	for _, pin := range list {
		pins[pin.Tool] = pin.Hash
	}
	st.mu.Lock()
	st.pins, st.pinsAt = pins, now
	st.mu.Unlock()
	return pins, nil
}

func (p *Policy) invalidatePins(st *serverState) {
	st.mu.Lock()
	st.pins = nil
	st.mu.Unlock()
}

var _ gateway.Middleware = (*Policy)(nil).Wrap

// Wrap is the Policy as gateway.Middleware.
func (p *Policy) Wrap(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Stream {
			// A legacy session's GET stream: the server's own messages,
			// or the rest of an earlier stream, whose responses answer
			// requests this call does not name.
			return p.watch(ctx, next, c, true)
		}
		if c.Msg.Kind != jsonrpc.KindRequest {
			return next(ctx, c)
		}
		switch c.Msg.Method {
		case mcp.MethodToolsList:
			return p.list(ctx, next, c)
		case mcp.MethodToolsCall:
			if err := p.checkCall(ctx, c); err != nil {
				return nil, err
			}
		}
		return p.watch(ctx, next, c, false)
	}
}

// watch forwards a request (or opens a stream) and reads what comes back
// for notifications/tools/list_changed (2025-11-25 server/tools "List
// Changed Notification", 2026-07-28 basic/patterns/subscriptions): the
// server says its tools changed, so the route's tool catalog may be stale
// and is emptied before the next call relies on it. The
// notification itself passes. On a stream, a tools/list result replayed
// from an earlier stream is filtered as list does.
func (p *Policy) watch(ctx context.Context, next gateway.Handler, c *gateway.Call, stream bool) (upstream.Reply, error) {
	reply, err := next(ctx, c)
	if err != nil {
		return reply, err
	}
	server := c.Route
	st := p.state(server)
	return gateway.TransformReply(reply, func(ev *upstream.Event) ([]byte, error) {
		if servermsg.MayBeToolsChanged(ev.Data) {
			m, err := ev.Message()
			if err != nil {
				return nil, errBadList
			}
			if m.Kind == jsonrpc.KindNotification && m.Method == mcp.NotificationToolsListChanged {
				p.toolsChanged(server, c.Catalog)
				return ev.Data, nil
			}
		}
		if stream {
			return p.filterList(ctx, server, st, ev)
		}
		return ev.Data, nil
	}), nil
}

// toolsChanged makes the route's tool catalog forget its lists: the next
// tools/call lists the tools again (at once, even for a name not seen
// before) and quarantines a definition that changed. tools/list results
// are judged as they pass, whatever the catalog holds.
func (p *Policy) toolsChanged(server string, cat *gateway.Catalog) {
	if cat != nil {
		cat.Invalidate()
	}
	p.log.Info("pinning: the server's tool list changed; relearning before the next call", "server", server)
}

// list forwards a tools/list and removes unapproved tools from its result.
func (p *Policy) list(ctx context.Context, next gateway.Handler, c *gateway.Call) (upstream.Reply, error) {
	server := c.Route
	st := p.state(server)
	if p.wantsBootstrap(ctx, server, st) {
		// Trust on first use needs the whole list, not this page.
		if _, err := p.learn(ctx, c, st); err != nil {
			p.log.Warn("pinning: learn tools for first use", "server", server, "err", err)
		}
	}
	reply, err := next(ctx, c)
	if err != nil {
		return reply, err
	}
	return gateway.TransformReply(reply, func(ev *upstream.Event) ([]byte, error) {
		if servermsg.MayBeToolsChanged(ev.Data) {
			if m, err := ev.Message(); err == nil && m.Kind == jsonrpc.KindNotification && m.Method == mcp.NotificationToolsListChanged {
				p.toolsChanged(server, c.Catalog)
				return ev.Data, nil
			}
		}
		return p.filterList(ctx, server, st, ev)
	}), nil
}

func (p *Policy) wantsBootstrap(ctx context.Context, server string, st *serverState) bool {
	if !p.serverOptions(server).TrustOnFirstUse {
		return false
	}
	if _, ok := p.filePins[server]; ok {
		return false
	}
	st.mu.Lock()
	done := st.bootstrapped
	st.mu.Unlock()
	if done {
		return false
	}
	ok, err := p.store.Bootstrapped(ctx, server)
	if err != nil || !ok {
		return err == nil
	}
	st.mu.Lock()
	st.bootstrapped = true
	st.mu.Unlock()
	return false
}

// errBadList reports a tools/list result the policy cannot read: the
// request fails rather than pass definitions that were not checked.
var errBadList = errors.New("pinning: upstream tools/list result is malformed")

// filterList rewrites one message of a tools/list reply.
func (p *Policy) filterList(ctx context.Context, server string, st *serverState, ev *upstream.Event) ([]byte, error) {
	data := ev.Data
	m, err := ev.Message()
	if err != nil {
		return nil, errBadList
	}
	if m.Kind != jsonrpc.KindResponse || m.Result == nil {
		return data, nil
	}
	if !jsonx.IsObject(m.Result) {
		return nil, errBadList
	}
	raws := make([][]byte, 0, 32)
	tools, err := jsonx.Elements(m.Result, "tools", func(e []byte) bool { raws = append(raws, e); return true })
	if err != nil {
		return nil, errBadList
	}
	if tools == nil {
		return data, nil
	}
	evs := make([]*evaluated, len(raws))
	for i, raw := range raws {
		evs[i] = p.evaluate(raw)
	}
	allowed, err := p.judge(ctx, server, st, evs)
	if err != nil {
		return nil, err
	}
	kept := make([][]byte, 0, len(raws))
	for i, raw := range raws {
		if allowed[i] {
			kept = append(kept, raw)
		}
	}
	if len(kept) == len(raws) {
		return data, nil
	}
	auditnote.Add(ctx, "pinning", "hid "+strconv.Itoa(len(raws)-len(kept))+" unapproved tools")
	arr := []byte{'['}
	for i, e := range kept {
		if i > 0 {
			arr = append(arr, ',')
		}
		arr = append(arr, e...)
	}
	arr = append(arr, ']')
	result, err := jsonx.Set(m.Result, "tools", arr)
	if err == nil {
		data, err = jsonx.Set(data, "result", result)
	}
	if err != nil {
		return nil, errBadList
	}
	return data, nil
}

// judge decides which of the evaluated definitions are approved, records
// the candidates for approval, and reports them.
func (p *Policy) judge(ctx context.Context, server string, st *serverState, evs []*evaluated) ([]bool, error) {
	pins, err := p.approved(ctx, server, st)
	if err != nil {
		return nil, err
	}
	so := p.serverOptions(server)
	now := p.now()
	allowed := make([]bool, len(evs))
	st.mu.Lock()
	var quarantined []*evaluated
	for i, ev := range evs {
		if ev.err != nil {
			continue
		}
		if pins[ev.def.Name] == ev.def.Hash {
			allowed[i] = true
			continue
		}
		allowed[i] = so.AllowUnapproved
		quarantined = append(quarantined, ev)
	}
	var toRecord []*evaluated
	for _, ev := range quarantined {
		key := ev.def.Name + "\x00" + ev.def.Hash
		if t, ok := st.recorded[key]; ok && now.Sub(t) < 5*time.Minute {
			continue
		}
		if len(st.recorded) > 4096 {
			clear(st.recorded)
		}
		st.recorded[key] = now
		toRecord = append(toRecord, ev)
	}
	st.mu.Unlock()
	for i, ev := range evs {
		if ev.err != nil {
			allowed[i] = so.AllowUnapproved
			p.log.Warn("pinning: tool definition cannot be pinned", "server", server, "err", ev.err)
		}
	}
	for _, ev := range toRecord {
		reason := "new"
		if _, ok := pins[ev.def.Name]; ok {
			reason = "changed"
		}
		p.log.Warn("pinning: tool definition not approved", "server", server, "tool", ev.def.Name, "hash", ev.def.Hash,
			"reason", reason, "findings", len(ev.findings), "listed", so.AllowUnapproved)
		for _, f := range ev.findings {
			p.log.Warn("pinning: injection cue in tool definition", "server", server, "tool", ev.def.Name, "finding", f.String())
		}
		err := p.store.AddCandidate(ctx, Candidate{Server: server, Tool: ev.def.Name, Hash: ev.def.Hash,
			Definition: ev.def.Canonical, Findings: ev.findings, FirstSeen: now, LastSeen: now})
		if err != nil {
			p.log.Error("pinning: record candidate", "server", server, "tool", ev.def.Name, "err", err)
		}
	}
	return allowed, nil
}

// checkCall refuses a tools/call of a tool whose current definition is
// not the approved one. The current definition is the one in the route's
// tool catalog for this caller.
func (p *Policy) checkCall(ctx context.Context, c *gateway.Call) error {
	server, name := c.Route, c.Params.Name
	st := p.state(server)
	list, err := p.learn(ctx, c, st)
	if err != nil {
		return err
	}
	var hash string
	tool, known := list.Tool(name)
	if known {
		ev := p.evaluateKeyed(tool.Hash, tool.Raw)
		known = ev.err == nil
		hash = ev.def.Hash
	}
	so := p.serverOptions(server)
	if !known {
		if so.AllowUnapproved {
			p.log.Warn("pinning: call of a tool the upstream does not list", "server", server, "tool", textcut.Cut(name, maxNameShown))
			return nil
		}
		auditnote.Add(ctx, "pinning", "refused a tool the upstream does not list")
		return &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: tool " + quoteShort(name) + " is not in this server's tool list"}
	}
	pins, err := p.approved(ctx, server, st)
	if err != nil {
		return err
	}
	if pins[name] == hash {
		return nil
	}
	if so.AllowUnapproved {
		p.log.Warn("pinning: call of an unapproved tool allowed", "server", server, "tool", textcut.Cut(name, maxNameShown), "hash", hash)
		return nil
	}
	auditnote.Add(ctx, "pinning", "refused an unapproved tool definition "+hash)
	return &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: tool " + quoteShort(name) +
		" is quarantined: its definition is new or has changed and awaits an operator's approval"}
}

// learn returns the server's tools as the caller sees them, from the
// route's catalog, and judges every definition of a list the first time it
// sees that list. Concurrent learns of one list wait for its judgement.
func (p *Policy) learn(ctx context.Context, c *gateway.Call, st *serverState) (*gateway.ToolList, error) {
	list, err := c.Tools(ctx)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	done, seen := st.judged[list]
	if !seen {
		if len(st.judged) >= 1024 {
			clear(st.judged) // judged again on demand
		}
		done = make(chan struct{})
		st.judged[list] = done
	}
	st.mu.Unlock()
	if seen {
		select {
		case <-done:
			return list, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer close(done)
	tools := list.Tools()
	evs := make([]*evaluated, len(tools))
	for i, t := range tools {
		evs[i] = p.evaluateKeyed(t.Hash, t.Raw)
	}
	if p.wantsBootstrap(ctx, c.Route, st) {
		p.bootstrap(ctx, c.Route, st, evs)
	}
	if _, err := p.judge(ctx, c.Route, st, evs); err != nil {
		st.mu.Lock()
		delete(st.judged, list) // judge it again on the next call
		st.mu.Unlock()
		return nil, err
	}
	return list, nil
}

// bootstrap trusts the server's first complete tool list.
func (p *Policy) bootstrap(ctx context.Context, server string, st *serverState, evs []*evaluated) {
	so := p.serverOptions(server)
	now := p.now()
	var pins []Pin
	for _, ev := range evs {
		if ev.err != nil || (len(ev.findings) > 0 && !so.AllowFindings) {
			continue
		}
		pins = append(pins, Pin{Server: server, Tool: ev.def.Name, Hash: ev.def.Hash, Definition: ev.def.Canonical, ApprovedAt: now, ApprovedBy: ApprovedByTOFU})
	}
	did, err := p.store.Bootstrap(ctx, server, pins)
	if err != nil {
		p.log.Error("pinning: trust on first use", "server", server, "err", err)
		return
	}
	if did {
		p.log.Info("pinning: trusted the first tool list", "server", server, "tools", len(pins), "withheld", len(evs)-len(pins))
	}
	st.mu.Lock()
	st.bootstrapped = true
	st.mu.Unlock()
	p.invalidatePins(st)
}

// quoteShort quotes a client-supplied name for an error message, cut to a
// sane length.
func quoteShort(s string) string { return string(jsonx.Quote(textcut.Cut(s, maxNameShown))) }

// maxNameShown is how much of a client's tool name an answer or a log line
// of this policy shows.
const maxNameShown = 128
