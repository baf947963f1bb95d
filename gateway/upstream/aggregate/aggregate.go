package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Member is one upstream inside the virtual server.
type Member struct {
	// Name identifies the member in logs and errors.
	Name string
	// Prefix is put before the member's tool and prompt names. At most
	// one member may have the empty prefix, and no prefix may be a prefix
	// of another.
	Prefix string
	// Upstream is the member's server. It must speak the legacy era
	// (accept initialize).
	Upstream upstream.Upstream
	// Allow and Deny filter the member's tools by the member's own names
	// (path.Match globs): a tool is offered when Allow is empty or one of
	// its patterns matches, and no Deny pattern matches.
	Allow, Deny []string
}

// Options configures an Aggregate.
type Options struct {
	// Members are the upstreams, in the order that breaks ties (a URI two
	// members list belongs to the first). At least one.
	Members []Member
	// Timeout bounds each member's answer to initialize and to a list
	// request; a member that does not answer in time is left out of that
	// answer. If zero, 5 seconds.
	Timeout time.Duration
	// Retry is how often a member that is down (it failed initialize,
	// or lost its side of a session) is tried again for a session that
	// needs it. If zero, 10 seconds.
	Retry time.Duration
	// MaxItems bounds the entries taken from one member's list page; the
	// rest is dropped and logged. If zero, 10000.
	MaxItems int
	// ServerInfo names the virtual server in initialize.
	ServerInfo struct{ Name, Version string }
	// Logger receives members' failures and collisions. If nil, nothing
	// is logged.
	Logger *slog.Logger
}

// Aggregate is a virtual server over its members.
type Aggregate struct {
	o       Options
	members []Member
	log     *slog.Logger
	res     resourceIndex
	rev     revival
}

var _ upstream.Upstream = (*Aggregate)(nil)

// New checks the members and returns the virtual server.
func New(o Options) (*Aggregate, error) {
	if len(o.Members) == 0 {
		return nil, errors.New("aggregate: no members")
	}
	if len(o.Members) > 64 {
		return nil, errors.New("aggregate: more than 64 members")
	}
	if err := CheckPrefixes(o.Members); err != nil {
		return nil, err
	}
	for _, m := range o.Members {
		if m.Upstream == nil {
			return nil, fmt.Errorf("aggregate: member %q has no upstream", m.Name)
		}
		for _, p := range append(append([]string(nil), m.Allow...), m.Deny...) {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("aggregate: member %q: bad pattern %q", m.Name, p)
			}
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 10000
	}
	if o.Retry <= 0 {
		o.Retry = 10 * time.Second
	}
	if o.ServerInfo.Name == "" {
		o.ServerInfo.Name = "mcpfort-virtual-server"
	}
	if o.ServerInfo.Version == "" {
		o.ServerInfo.Version = "dev"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Aggregate{o: o, members: o.Members, log: log, res: resourceIndex{uris: map[string]int{}, templates: map[string]int{}}, rev: revival{m: map[revKey]*revived{}}}, nil
}

// CheckPrefixes reports members whose names or prefixes collide: names
// must be distinct, prefixes distinct, at most one empty, and none a
// prefix of another (so that a merged name routes to one member only).
func CheckPrefixes(ms []Member) error {
	names := map[string]bool{}
	for i, a := range ms {
		if names[a.Name] {
			return fmt.Errorf("aggregate: two members are named %q", a.Name)
		}
		names[a.Name] = true
		for _, b := range ms[i+1:] {
			switch {
			case a.Prefix == b.Prefix:
				return fmt.Errorf("aggregate: members %q and %q have the same prefix %q", a.Name, b.Name, a.Prefix)
			case a.Prefix != "" && b.Prefix != "" && (strings.HasPrefix(a.Prefix, b.Prefix) || strings.HasPrefix(b.Prefix, a.Prefix)):
				return fmt.Errorf("aggregate: the prefixes %q (%s) and %q (%s) overlap: a name could belong to either", a.Prefix, a.Name, b.Prefix, b.Name)
			}
		}
	}
	return nil
}

// route returns the member a merged name belongs to and the member's own
// name, or -1.
func (a *Aggregate) route(name string) (int, string) {
	fallback := -1
	for i, m := range a.members {
		if m.Prefix == "" {
			fallback = i
			continue
		}
		if strings.HasPrefix(name, m.Prefix) {
			return i, name[len(m.Prefix):]
		}
	}
	return fallback, name
}

// allowed applies the member's tool filter to one of its own tool names.
func (m *Member) allowed(name string) bool {
	for _, p := range m.Deny {
		if ok, _ := path.Match(p, name); ok {
			return false
		}
	}
	if len(m.Allow) == 0 {
		return true
	}
	for _, p := range m.Allow {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// ---- session state ----

// child is one member's side of a session.
type child struct {
	up      bool   // the member accepted initialize
	session string // its Mcp-Session-Id ("" when it assigns none)
	version string // the version it negotiated
}

const sessionTag = "a1"

// encodeSession writes the members' sessions as the aggregate's session
// string. The gateway seals it (AES-GCM) into the client's session id, so
// clients can neither read nor alter it.
func encodeSession(cs []child, caps []byte) string {
	var b strings.Builder
	b.WriteString(sessionTag)
	for _, c := range cs {
		b.WriteByte('|')
		if !c.up {
			b.WriteByte('!')
			continue
		}
		b.WriteString(url.QueryEscape(c.version))
		b.WriteByte(',')
		b.WriteString(url.QueryEscape(c.session))
	}
	// The client's capabilities, to open a member's session later
	// (revive) as the client would have.
	b.WriteByte('|')
	b.WriteString(url.QueryEscape(string(caps)))
	return b.String()
}

func (a *Aggregate) decodeSession(s string) ([]child, error) {
	parts := strings.Split(s, "|")
	if len(parts) != len(a.members)+2 || parts[0] != sessionTag {
		// Another configuration (members added or removed) sealed it.
		return nil, upstream.ErrSessionGone
	}
	cs := make([]child, len(a.members))
	for i, p := range parts[1 : len(parts)-1] {
		if p == "!" {
			continue
		}
		v, sess, ok := strings.Cut(p, ",")
		if !ok {
			return nil, upstream.ErrSessionGone
		}
		var err1, err2 error
		cs[i].version, err1 = url.QueryUnescape(v)
		cs[i].session, err2 = url.QueryUnescape(sess)
		if err1 != nil || err2 != nil {
			return nil, upstream.ErrSessionGone
		}
		cs[i].up = true
	}
	return cs, nil
}

// sessionCaps returns the client capabilities kept in a session string.
func sessionCaps(s string) []byte {
	i := strings.LastIndexByte(s, '|')
	c, err := url.QueryUnescape(s[i+1:])
	if err != nil || c == "" {
		return []byte(`{}`)
	}
	return []byte(c)
}

// childRequest is req addressed to member i.
func childRequest(req *upstream.Request, c child, body []byte, m *jsonrpc.Message) *upstream.Request {
	var r *upstream.Request
	if m != nil && len(body) == len(m.Raw) && (len(body) == 0 || &body[0] == &m.Raw[0]) {
		r = upstream.Forward(m)
	} else {
		r = &upstream.Request{Body: body}
	}
	r.Session, r.Key, r.Principal, r.ProtocolVersion = c.session, req.Key, req.Principal, c.version
	r.Header = memberHeader(req.Header)
	return r
}

// memberHeader keeps the headers a legacy member may use (trace context):
// Mcp-Name and Mcp-Param-* name the merged target, not the member's.
func memberHeader(h http.Header) http.Header {
	drop := false
	for k := range h {
		if k == mcp.HeaderName || strings.HasPrefix(k, "Mcp-Param-") || k == mcp.HeaderMethod {
			drop = true
			break
		}
	}
	if !drop {
		return h
	}
	out := make(http.Header, len(h))
	for k, v := range h {
		if k == mcp.HeaderName || strings.HasPrefix(k, "Mcp-Param-") || k == mcp.HeaderMethod {
			continue
		}
		out[k] = v
	}
	return out
}

// ---- upstream.Upstream ----

// Post implements upstream.Upstream.
func (a *Aggregate) Post(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	m, err := req.Message()
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	if m.Kind == jsonrpc.KindRequest && m.Method == mcp.MethodInitialize {
		return a.initialize(ctx, req, m)
	}
	if req.Session == "" {
		if m.Kind == jsonrpc.KindRequest && m.Method == mcp.MethodServerDiscover {
			// A virtual server speaks the session era only.
			return errorReply(m.ID, jsonrpc.CodeMethodNotFound, "Method not found: "+m.Method), nil
		}
		if m.Kind != jsonrpc.KindRequest {
			return upstream.Accepted(), nil
		}
		return errorReply(m.ID, jsonrpc.CodeInvalidRequest, "Invalid Request: initialize first"), nil
	}
	cs, err := a.session(req)
	if err != nil {
		return nil, err
	}
	switch m.Kind {
	case jsonrpc.KindNotification:
		a.broadcast(ctx, req, cs, m)
		return upstream.Accepted(), nil
	case jsonrpc.KindResponse:
		return a.answerMember(ctx, req, cs, m)
	}
	switch m.Method {
	case mcp.MethodPing:
		return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`))), nil
	case mcp.MethodToolsList:
		return a.list(ctx, req, cs, m, kindTools)
	case mcp.MethodPromptsList:
		return a.list(ctx, req, cs, m, kindPrompts)
	case mcp.MethodResourcesList:
		return a.list(ctx, req, cs, m, kindResources)
	case mcp.MethodResourcesTemplates:
		return a.list(ctx, req, cs, m, kindTemplates)
	case mcp.MethodToolsCall, mcp.MethodPromptsGet:
		return a.byName(ctx, req, cs, m)
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		return a.byURI(ctx, req, cs, m)
	case mcp.MethodCompletionComplete:
		return a.complete(ctx, req, cs, m)
	case mcp.MethodLoggingSetLevel:
		return a.setLevel(ctx, req, cs, m)
	}
	return errorReply(m.ID, jsonrpc.CodeMethodNotFound, "Method not found: "+m.Method), nil
}

// Get implements upstream.Upstream. Without Last-Event-ID it is the
// session's standalone stream: the members' GET streams merged (get.go).
// With the id of a merged event, it is that stream resumed, each member
// at its own last event. With the id of a call's event, it resumes the
// stream of the call: the id names the member, which resumes its own
// stream (2025-11-25 transports "Resumability and Redelivery"). A
// malformed id is ErrNotSupported, as for a member that cannot resume.
func (a *Aggregate) Get(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	cs, err := a.session(req)
	if err != nil {
		return nil, err
	}
	if req.LastEventID == "" {
		return a.mergeGet(ctx, req, cs, nil)
	}
	if isMergedID(req.LastEventID) {
		last, err := parseMergedID(req.LastEventID, len(a.members))
		if err != nil {
			return nil, fmt.Errorf("%w: malformed Last-Event-ID: %v", upstream.ErrNotSupported, err)
		}
		return a.mergeGet(ctx, req, cs, last)
	}
	i, id, ok := splitEventID(req.LastEventID)
	if !ok || i >= len(a.members) || !cs[i].up {
		return nil, upstream.ErrNotSupported
	}
	r := &upstream.Request{Session: cs[i].session, Key: req.Key, Principal: req.Principal, ProtocolVersion: cs[i].version, Header: memberHeader(req.Header), LastEventID: id}
	reply, err := a.members[i].Upstream.Get(ctx, r)
	if err != nil {
		return nil, err
	}
	return &memberReply{Reply: reply, i: i}, nil
}

// Delete implements upstream.Upstream: every member's session ends.
func (a *Aggregate) Delete(ctx context.Context, req *upstream.Request) error {
	cs, err := a.session(req)
	if err != nil {
		return err
	}
	defer a.rev.forget(req.Key)
	var wg sync.WaitGroup
	for i := range a.members {
		if !cs[i].up {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &upstream.Request{Session: cs[i].session, Key: req.Key, Principal: req.Principal, ProtocolVersion: cs[i].version, Header: memberHeader(req.Header)}
			if err := a.members[i].Upstream.Delete(ctx, r); err != nil && !errors.Is(err, upstream.ErrSessionGone) {
				a.log.Warn("member session delete failed", "member", a.members[i].Name, "err", err)
			}
		}()
	}
	wg.Wait()
	return nil
}

// Close implements upstream.Upstream.
func (a *Aggregate) Close(ctx context.Context) error {
	var errs []error
	for _, m := range a.members {
		if err := m.Upstream.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("member %s: %w", m.Name, err))
		}
	}
	return errors.Join(errs...)
}

func errorReply(id jsonrpc.ID, code int64, msg string) upstream.Reply {
	return upstream.Message(jsonrpc.AppendErrorResponse(nil, id, jsonrpc.NewError(code, msg)))
}

// unavailable answers a call routed to a member that is not part of the
// session (it failed at initialize).
func (a *Aggregate) unavailable(id jsonrpc.ID, i int) upstream.Reply {
	return errorReply(id, jsonrpc.CodeUpstreamUnavailable, "upstream "+strconv.Quote(a.members[i].Name)+" is unavailable in this session")
}

// ---- initialize ----

// initialize opens a session on every member in parallel (2025-11-25
// basic/lifecycle "Initialization") and answers with the merged
// capabilities. A member that refuses or does not answer within the
// timeout is left out of the session.
func (a *Aggregate) initialize(ctx context.Context, req *upstream.Request, m *jsonrpc.Message) (upstream.Reply, error) {
	a.rev.forget(req.Key)
	cs := make([]child, len(a.members))
	results := make([][]byte, len(a.members))
	var wg sync.WaitGroup
	for i := range a.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, res, err := a.open(ctx, req, i, m)
			if err != nil {
				a.log.Warn("member initialize failed", "member", a.members[i].Name, "err", err)
				a.rev.put(revKey{req.Key, i}, revived{last: time.Now()}) // tried again after Retry
				return
			}
			cs[i], results[i] = c, res
		}()
	}
	wg.Wait()
	up := 0
	for _, c := range cs {
		if c.up {
			up++
		}
	}
	if up == 0 {
		return errorReply(m.ID, jsonrpc.CodeUpstreamUnavailable, "no upstream of this virtual server answered initialize"), nil
	}
	caps := get(m.Params, "capabilities")
	if len(caps) > 1024 || !jsonx.IsObject(caps) {
		caps = nil
	}
	sess := encodeSession(cs, caps)
	if len(sess) > 4000 {
		return errorReply(m.ID, jsonrpc.CodeInternalError, "Internal error: the upstreams' session ids are too long to keep"), nil
	}
	requested, _ := jsonx.String(get(m.Params, "protocolVersion"))
	version := mcp.NegotiateLegacy(requested)
	for _, c := range cs {
		if c.up && c.version < version {
			version = c.version // answer what every member speaks
		}
	}
	res := a.mergeInit(version, results)
	reply := upstream.Message(jsonrpc.AppendResult(nil, m.ID, res))
	reply.I.Session = sess
	return reply, nil
}

// open sends initialize (m) to member i, within the timeout.
func (a *Aggregate) open(ctx context.Context, req *upstream.Request, i int, m *jsonrpc.Message) (child, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	r := childRequest(req, child{}, m.Raw, m)
	r.Session, r.ProtocolVersion = "", ""
	reply, err := a.members[i].Upstream.Post(ctx, r)
	if err != nil {
		return child{}, nil, err
	}
	sess := reply.Info().Session
	res, err := upstream.FinalResult(ctx, reply)
	if err != nil {
		return child{}, nil, err
	}
	v, _ := jsonx.String(get(res, "protocolVersion"))
	if v == "" || mcp.IsModern(v) {
		return child{}, nil, errors.New("no legacy protocolVersion in its answer")
	}
	return child{up: true, session: sess, version: v}, res, nil
}

// mergeInit builds the InitializeResult: a capability is offered when a
// member offers it; listChanged and subscribe likewise.
func (a *Aggregate) mergeInit(version string, results [][]byte) []byte {
	var tools, prompts, resources, logging, completions, toolsLC, promptsLC, resLC, resSub bool
	var instr []string
	for i, res := range results {
		if res == nil {
			continue
		}
		caps := get(res, "capabilities")
		has := func(k string) []byte { return get(caps, k) }
		flag := func(obj []byte, k string) bool { return string(get(obj, k)) == "true" }
		if t := has("tools"); t != nil {
			tools, toolsLC = true, toolsLC || flag(t, "listChanged")
		}
		if p := has("prompts"); p != nil {
			prompts, promptsLC = true, promptsLC || flag(p, "listChanged")
		}
		if r := has("resources"); r != nil {
			resources, resLC, resSub = true, resLC || flag(r, "listChanged"), resSub || flag(r, "subscribe")
		}
		logging = logging || has("logging") != nil
		completions = completions || has("completions") != nil
		if s, ok := jsonx.String(get(res, "instructions")); ok && s != "" {
			instr = append(instr, a.members[i].Name+" (names prefixed "+strconv.Quote(a.members[i].Prefix)+"): "+s)
		}
	}
	b := []byte(`{"protocolVersion":`)
	b = jsonx.AppendQuote(b, version)
	b = append(b, `,"capabilities":{`...)
	n := 0
	add := func(s string) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, s...)
	}
	if tools {
		add(`"tools":{"listChanged":` + strconv.FormatBool(toolsLC) + `}`)
	}
	if prompts {
		add(`"prompts":{"listChanged":` + strconv.FormatBool(promptsLC) + `}`)
	}
	if resources {
		add(`"resources":{"listChanged":` + strconv.FormatBool(resLC) + `,"subscribe":` + strconv.FormatBool(resSub) + `}`)
	}
	if logging {
		add(`"logging":{}`)
	}
	if completions {
		add(`"completions":{}`)
	}
	b = append(b, `},"serverInfo":{"name":`...)
	b = jsonx.AppendQuote(b, a.o.ServerInfo.Name)
	b = append(b, `,"version":`...)
	b = jsonx.AppendQuote(b, a.o.ServerInfo.Version)
	b = append(b, '}')
	if len(instr) > 0 {
		b = append(b, `,"instructions":`...)
		b = jsonx.AppendQuote(b, strings.Join(instr, "\n\n"))
	}
	return append(b, '}')
}

// ---- requests routed to one member ----

// byName serves tools/call and prompts/get: the name's prefix picks the
// member, which gets the message with its own name.
func (a *Aggregate) byName(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message) (upstream.Reply, error) {
	name, ok := jsonx.String(get(m.Params, "name"))
	if !ok {
		return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: name is required"), nil
	}
	what := "tool"
	if m.Method == mcp.MethodPromptsGet {
		what = "prompt"
	}
	i, own := a.route(name)
	if i < 0 || (what == "tool" && !a.members[i].allowed(own)) {
		return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: unknown "+what+" "+strconv.Quote(name)), nil
	}
	if !a.ensure(ctx, req, cs, i) {
		return a.unavailable(m.ID, i), nil
	}
	body := m.Raw
	if own != name {
		params, err := jsonx.Set(m.Params, "name", jsonx.Quote(own))
		if err != nil {
			return nil, err
		}
		if body, err = jsonx.Set(m.Raw, "params", params); err != nil {
			return nil, err
		}
	}
	return a.send(ctx, req, cs, i, body, m)
}

// send posts body to member i and wraps its reply so that server
// requests and event ids name the member.
func (a *Aggregate) send(ctx context.Context, req *upstream.Request, cs []child, i int, body []byte, m *jsonrpc.Message) (upstream.Reply, error) {
	reply, err := a.members[i].Upstream.Post(ctx, childRequest(req, cs[i], body, m))
	if errors.Is(err, upstream.ErrSessionGone) {
		// The member lost its side of the session (restarted): the
		// request was not served there. Open a new one and send it once
		// more; the client's session goes on.
		a.rev.lost(req.Key, i)
		cs[i].up = false
		if !a.ensure(ctx, req, cs, i) {
			return a.unavailable(m.ID, i), nil
		}
		reply, err = a.members[i].Upstream.Post(ctx, childRequest(req, cs[i], body, m))
	}
	if err != nil {
		return nil, err
	}
	return &memberReply{Reply: reply, i: i}, nil
}

// byURI serves resources/read, resources/subscribe and
// resources/unsubscribe by the member the URI belongs to.
func (a *Aggregate) byURI(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message) (upstream.Reply, error) {
	uri, ok := jsonx.String(get(m.Params, "uri"))
	if !ok {
		return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: uri is required"), nil
	}
	i := a.resourceMember(ctx, req, cs, uri, false)
	if i < 0 {
		return upstream.Message(jsonrpc.AppendErrorResponse(nil, m.ID, &jsonrpc.Error{Code: jsonrpc.CodeResourceNotFound, Message: "Resource not found",
			Data: append(append([]byte(`{"uri":`), jsonx.Quote(uri)...), '}')})), nil
	}
	if !a.ensure(ctx, req, cs, i) {
		return a.unavailable(m.ID, i), nil
	}
	return a.send(ctx, req, cs, i, m.Raw, m)
}

// complete serves completion/complete: a prompt reference by its name's
// prefix (removed), a resource template reference by the template's
// member.
func (a *Aggregate) complete(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message) (upstream.Reply, error) {
	ref := get(m.Params, "ref")
	typ, _ := jsonx.String(get(ref, "type"))
	switch typ {
	case "ref/prompt":
		name, ok := jsonx.String(get(ref, "name"))
		if !ok {
			break
		}
		i, own := a.route(name)
		if i < 0 {
			return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: unknown prompt "+strconv.Quote(name)), nil
		}
		if !a.ensure(ctx, req, cs, i) {
			return a.unavailable(m.ID, i), nil
		}
		body := m.Raw
		if own != name {
			ref, err := jsonx.Set(ref, "name", jsonx.Quote(own))
			if err != nil {
				return nil, err
			}
			params, err := jsonx.Set(m.Params, "ref", ref)
			if err != nil {
				return nil, err
			}
			if body, err = jsonx.Set(m.Raw, "params", params); err != nil {
				return nil, err
			}
		}
		return a.send(ctx, req, cs, i, body, m)
	case "ref/resource":
		uri, ok := jsonx.String(get(ref, "uri"))
		if !ok {
			break
		}
		i := a.resourceMember(ctx, req, cs, uri, true)
		if i < 0 {
			return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: unknown resource template "+strconv.Quote(uri)), nil
		}
		if !a.ensure(ctx, req, cs, i) {
			return a.unavailable(m.ID, i), nil
		}
		return a.send(ctx, req, cs, i, m.Raw, m)
	}
	return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: ref must be a ref/prompt with a name or a ref/resource with a uri"), nil
}

// setLevel sets the log level on every member that has logging.
func (a *Aggregate) setLevel(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message) (upstream.Reply, error) {
	if _, ok := jsonx.String(get(m.Params, "level")); !ok {
		return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: level is required"), nil
	}
	a.fanOut(ctx, cs, func(ctx context.Context, i int) {
		reply, err := a.members[i].Upstream.Post(ctx, childRequest(req, cs[i], m.Raw, m))
		if err == nil {
			_, err = upstream.FinalResult(ctx, reply)
		}
		if err != nil {
			a.log.Debug("member logging/setLevel failed", "member", a.members[i].Name, "err", err)
		}
	})
	return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`))), nil
}

// broadcast delivers a client notification (initialized, cancelled,
// roots/list_changed) to every member of the session: a member ignores a
// cancellation of a request it does not know (2025-11-25
// basic/utilities/cancellation).
func (a *Aggregate) broadcast(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message) {
	a.fanOut(ctx, cs, func(ctx context.Context, i int) {
		reply, err := a.members[i].Upstream.Post(ctx, childRequest(req, cs[i], m.Raw, m))
		if err != nil {
			a.log.Debug("member notification failed", "member", a.members[i].Name, "method", m.Method, "err", err)
			return
		}
		reply.Close()
	})
}

// answerMember delivers the client's answer to a server request to the
// member that asked: the id names it (memberID).
func (a *Aggregate) answerMember(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message) (upstream.Reply, error) {
	i, id, ok := splitMemberID(m.ID)
	if !ok || i >= len(a.members) || !cs[i].up {
		return upstream.Accepted(), nil // an answer to nothing any member asked
	}
	body, err := m.WithID(id)
	if err != nil {
		return nil, err
	}
	reply, err := a.members[i].Upstream.Post(ctx, childRequest(req, cs[i], body, nil))
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// fanOut runs f for every member of the session at once, each bounded by
// the timeout, and waits for all.
func (a *Aggregate) fanOut(ctx context.Context, cs []child, f func(ctx context.Context, i int)) {
	var wg sync.WaitGroup
	for i := range a.members {
		if !cs[i].up {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
			defer cancel()
			f(cctx, i)
		}()
	}
	wg.Wait()
}

// ---- ids ----

// memberID is the id a member's request to the client travels with:
// "<member>~<the member's id as JSON>".
func memberID(i int, id jsonrpc.ID) jsonrpc.ID {
	return jsonrpc.StringID(strconv.Itoa(i) + "~" + id.Raw())
}

func splitMemberID(id jsonrpc.ID) (int, jsonrpc.ID, bool) {
	s, ok := jsonx.String([]byte(id.Raw()))
	if !ok {
		return 0, jsonrpc.ID{}, false
	}
	n, raw, ok := strings.Cut(s, "~")
	if !ok {
		return 0, jsonrpc.ID{}, false
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 {
		return 0, jsonrpc.ID{}, false
	}
	orig, err := jsonrpc.RawID([]byte(raw))
	if err != nil {
		return 0, jsonrpc.ID{}, false
	}
	return i, orig, true
}

// eventID prefixes a member's event id with its index ("" when the result
// would not be a valid event id, so the event goes without one).
func eventID(i int, id string) string {
	if id == "" {
		return ""
	}
	out := strconv.Itoa(i) + "/" + id
	if len(out) > 256 {
		return ""
	}
	return out
}

func splitEventID(s string) (int, string, bool) {
	n, id, ok := strings.Cut(s, "/")
	if !ok {
		return 0, "", false
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || id == "" {
		return 0, "", false
	}
	return i, id, true
}

// memberReply is a member's reply as the client sees it: its requests
// carry member ids and its events member-prefixed event ids.
type memberReply struct {
	upstream.Reply
	i int
}

func (r *memberReply) Info() upstream.Info {
	info := r.Reply.Info()
	info.PrimingID = eventID(r.i, info.PrimingID)
	info.Session = ""
	return info
}

func (r *memberReply) Next(ctx context.Context) (*upstream.Event, error) {
	ev, err := r.Reply.Next(ctx)
	if err != nil {
		return nil, err
	}
	return rewriteEvent(r.i, ev), nil
}

func rewriteEvent(i int, ev *upstream.Event) *upstream.Event {
	id := eventID(i, ev.ID)
	if len(ev.Data) > 0 {
		if m, err := ev.Message(); err == nil && m.Kind == jsonrpc.KindRequest {
			if data, err := m.WithID(memberID(i, m.ID)); err == nil {
				return &upstream.Event{ID: id, Data: data, Retry: ev.Retry}
			}
		}
	}
	if id == ev.ID {
		return ev
	}
	return ev.WithID(id)
}

// ---- helpers ----

// get returns member key of the JSON object obj (nil when absent or obj is
// not an object).
func get(obj []byte, key string) []byte {
	if obj == nil {
		return nil
	}
	v, ok := jsonx.Get(obj, key)
	if !ok {
		return nil
	}
	return v
}
