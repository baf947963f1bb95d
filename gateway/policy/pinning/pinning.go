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
	"github.com/mcpfort/mcpfort/gateway/policy/internal/jsonskim"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/servermsg"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
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
// is not pinned, keeps pins in memory, and relearns definitions every
// minute.
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
	// RefreshInterval is how long a definition learned from a tools/list
	// answers for tools/call before the policy lists the tools again (as
	// the caller) to check the definition is unchanged. If zero, 1m.
	RefreshInterval time.Duration
	// PinCacheTTL is how long pins read from the store are reused before
	// the store is read again: an approval takes effect within it on every
	// replica. If zero, 5s.
	PinCacheTTL time.Duration
	// MaxPages bounds the tools/list pages read when learning. If zero, 50.
	MaxPages int
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

type observation struct {
	hash string
	at   time.Time
	gen  uint64 // serverState.gen when the list it came from was asked for
}

// serverState is what one replica knows of one server.
type serverState struct {
	mu           sync.Mutex
	pins         map[string]string // tool -> approved hash
	pinsAt       time.Time
	bootstrapped bool
	observed     map[string]observation // tool -> definition the upstream lists
	learnedAt    time.Time
	learning     chan struct{} // closed when the learn in flight ends
	recorded     map[string]time.Time
	// gen counts the notifications/tools/list_changed seen: an
	// observation of an older generation may predate a change and is
	// relearned before a call relies on it.
	gen uint64
}

// New returns a Policy for opts.
func New(opts Options) (*Policy, error) {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Minute
	}
	if opts.PinCacheTTL <= 0 {
		opts.PinCacheTTL = 5 * time.Second
	}
	if opts.MaxPages <= 0 {
		opts.MaxPages = 50
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
		st = &serverState{observed: map[string]observation{}, recorded: map[string]time.Time{}}
		p.servers[server] = st
	}
	return st
}

// evaluate canonicalises and scans a raw tool definition, once per
// distinct definition.
func (p *Policy) evaluate(raw []byte) *evaluated {
	key := sha256.Sum256(raw)
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
			if err := p.checkCall(ctx, next, c); err != nil {
				return nil, err
			}
		}
		return p.watch(ctx, next, c, false)
	}
}

// watch forwards a request (or opens a stream) and reads what comes back
// for notifications/tools/list_changed (2025-11-25 server/tools "List
// Changed Notification", 2026-07-28 basic/patterns/subscriptions): the
// server says its tools changed, so what this replica observed of them may
// be stale and is relearned before the next call relies on it. The
// notification itself passes. On a stream, a tools/list result replayed
// from an earlier stream is filtered as list does.
func (p *Policy) watch(ctx context.Context, next gateway.Handler, c *gateway.Call, stream bool) (upstream.Reply, error) {
	reply, err := next(ctx, c)
	if err != nil {
		return reply, err
	}
	server := c.Route
	st := p.state(server)
	gen := st.generation()
	return gateway.TransformReply(reply, func(data []byte) ([]byte, error) {
		if servermsg.MayBeToolsChanged(data) {
			m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
			if err != nil {
				return nil, errBadList
			}
			if m.Kind == jsonrpc.KindNotification && m.Method == mcp.NotificationToolsListChanged {
				p.toolsChanged(server, st)
				return data, nil
			}
		}
		if stream {
			return p.filterList(ctx, server, st, gen, data)
		}
		return data, nil
	}), nil
}

// generation returns the count of tool list changes seen so far.
func (st *serverState) generation() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.gen
}

// toolsChanged forgets what was observed of the server's tools: the next
// tools/call relearns them (at once, even for a name not seen before)
// and quarantines a definition that changed. tools/list results are
// judged as they pass, whatever was observed.
func (p *Policy) toolsChanged(server string, st *serverState) {
	st.mu.Lock()
	st.gen++
	clear(st.observed)
	st.learnedAt = time.Time{}
	st.mu.Unlock()
	p.log.Info("pinning: the server's tool list changed; relearning before the next call", "server", server)
}

// list forwards a tools/list and removes unapproved tools from its result.
func (p *Policy) list(ctx context.Context, next gateway.Handler, c *gateway.Call) (upstream.Reply, error) {
	server := c.Route
	st := p.state(server)
	if p.wantsBootstrap(ctx, server, st) {
		// Trust on first use needs the whole list, not this page.
		if err := p.learn(ctx, next, c, st); err != nil {
			p.log.Warn("pinning: learn tools for first use", "server", server, "err", err)
		}
	}
	gen := st.generation()
	reply, err := next(ctx, c)
	if err != nil {
		return reply, err
	}
	return gateway.TransformReply(reply, func(data []byte) ([]byte, error) {
		if servermsg.MayBeToolsChanged(data) {
			if m, err := jsonrpc.Decode(data, jsonrpc.Limits{}); err == nil && m.Kind == jsonrpc.KindNotification && m.Method == mcp.NotificationToolsListChanged {
				p.toolsChanged(server, st)
				return data, nil
			}
		}
		return p.filterList(ctx, server, st, gen, data)
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

// filterList rewrites one message of a tools/list reply; gen is the
// generation of the list's request.
func (p *Policy) filterList(ctx context.Context, server string, st *serverState, gen uint64, data []byte) ([]byte, error) {
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil {
		return nil, errBadList
	}
	if m.Kind != jsonrpc.KindResponse || m.Result == nil {
		return data, nil
	}
	if !jsonx.IsObject(m.Result) {
		return nil, errBadList
	}
	// jsonrpc.Decode validated the message: navigate it without scanning
	// it again.
	tools, ok := jsonskim.Member(m.Result, "tools")
	if !ok {
		return data, nil
	}
	raws := make([][]byte, 0, 32)
	if !jsonskim.Elements(tools, func(e []byte) bool { raws = append(raws, e); return true }) {
		return nil, errBadList
	}
	evs := make([]*evaluated, len(raws))
	for i, raw := range raws {
		evs[i] = p.evaluate(raw)
	}
	allowed, err := p.judge(ctx, server, st, evs, false, gen)
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
// what it observed and the candidates for approval, and reports them. With
// complete set (a full learn), the observations replace what was known.
// gen is the generation of the request the definitions answer: when a
// list change was seen since, they are recorded as stale.
func (p *Policy) judge(ctx context.Context, server string, st *serverState, evs []*evaluated, complete bool, gen uint64) ([]bool, error) {
	pins, err := p.approved(ctx, server, st)
	if err != nil {
		return nil, err
	}
	so := p.serverOptions(server)
	now := p.now()
	allowed := make([]bool, len(evs))
	st.mu.Lock()
	if complete {
		st.observed = make(map[string]observation, len(evs))
		st.learnedAt = now
	}
	var quarantined []*evaluated
	for i, ev := range evs {
		if ev.err != nil {
			continue
		}
		st.observed[ev.def.Name] = observation{hash: ev.def.Hash, at: now, gen: gen}
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
// not the approved one.
func (p *Policy) checkCall(ctx context.Context, next gateway.Handler, c *gateway.Call) error {
	server, name := c.Route, c.Params.Name
	st := p.state(server)
	now := p.now()
	st.mu.Lock()
	obs, known := st.observed[name]
	learnedAt := st.learnedAt
	gen := st.gen
	st.mu.Unlock()
	stale := !known || now.Sub(obs.at) >= p.opts.RefreshInterval || obs.gen != gen
	// An unknown name relearns at most once a second, so that calls of
	// made-up tools cannot turn into a stream of upstream tools/list.
	if stale && (known || now.Sub(learnedAt) >= time.Second) {
		// A learn that joined one in flight, or during which the tool list
		// changed, may answer with what the server listed before the
		// change: learn once more.
		for try := 0; try < 2; try++ {
			if err := p.learn(ctx, next, c, st); err != nil {
				return err
			}
			st.mu.Lock()
			obs, known = st.observed[name]
			fresh := !known || obs.gen == st.gen
			st.mu.Unlock()
			if fresh {
				break
			}
		}
	}
	so := p.serverOptions(server)
	if !known {
		if so.AllowUnapproved {
			p.log.Warn("pinning: call of a tool the upstream does not list", "server", server, "tool", name)
			return nil
		}
		auditnote.Add(ctx, "pinning", "refused a tool the upstream does not list")
		return &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: tool " + quoteShort(name) + " is not in this server's tool list"}
	}
	pins, err := p.approved(ctx, server, st)
	if err != nil {
		return err
	}
	if pins[name] == obs.hash {
		return nil
	}
	if so.AllowUnapproved {
		p.log.Warn("pinning: call of an unapproved tool allowed", "server", server, "tool", name, "hash", obs.hash)
		return nil
	}
	auditnote.Add(ctx, "pinning", "refused an unapproved tool definition "+obs.hash)
	return &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: tool " + quoteShort(name) +
		" is quarantined: its definition is new or has changed and awaits an operator's approval"}
}

// learn lists the server's tools as the caller, through the rest of the
// chain, and judges every definition. Concurrent learns of one server wait
// for the one in flight.
func (p *Policy) learn(ctx context.Context, next gateway.Handler, c *gateway.Call, st *serverState) error {
	st.mu.Lock()
	if ch := st.learning; ch != nil {
		st.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan struct{})
	st.learning = ch
	gen := st.gen
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.learning = nil
		st.mu.Unlock()
		close(ch)
	}()

	var raws [][]byte
	cursor := ""
	for page := 0; ; page++ {
		if page == p.opts.MaxPages {
			return fmt.Errorf("pinning: %s lists more than %d pages of tools", c.Route, p.opts.MaxPages)
		}
		params := []byte(`{}`)
		if cursor != "" {
			params, _ = jsonx.Set(params, "cursor", jsonx.Quote(cursor))
		}
		d, err := c.Derive(jsonrpc.StringID("mcpfort-pinning-"+strconv.Itoa(page)), mcp.MethodToolsList, params)
		if err != nil {
			return err
		}
		reply, err := next(ctx, d)
		if err != nil {
			return err
		}
		res, err := gateway.FinalResult(ctx, reply)
		if err != nil {
			return err
		}
		if !jsonx.IsObject(res) {
			return errBadList
		}
		if tools, ok := jsonx.Get(res, "tools"); ok {
			if err := jsonx.WalkArray(tools, func(e []byte) bool { raws = append(raws, e); return true }); err != nil {
				return errBadList
			}
		}
		nc, _ := jsonx.Get(res, "nextCursor")
		if cursor, _ = jsonx.String(nc); cursor == "" {
			break
		}
	}
	evs := make([]*evaluated, len(raws))
	for i, raw := range raws {
		evs[i] = p.evaluate(raw)
	}
	if p.wantsBootstrap(ctx, c.Route, st) {
		p.bootstrap(ctx, c.Route, st, evs)
	}
	_, err := p.judge(ctx, c.Route, st, evs, true, gen)
	return err
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
func quoteShort(s string) string {
	const limit = 128
	if len(s) > limit {
		cut := limit
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return string(jsonx.Quote(s))
}
