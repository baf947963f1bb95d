package aggregate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

type listKind uint8

const (
	kindTools listKind = iota
	kindPrompts
	kindResources
	kindTemplates
)

// key is the result member holding the list.
func (k listKind) key() string {
	return [...]string{"tools", "prompts", "resources", "resourceTemplates"}[k]
}

func (k listKind) method() string {
	return [...]string{mcp.MethodToolsList, mcp.MethodPromptsList, mcp.MethodResourcesList, mcp.MethodResourcesTemplates}[k]
}

// maxMemberCursor bounds a member's cursor kept in the aggregate's; a
// member whose cursor is longer is listed no further (and logged).
const maxMemberCursor = 1024

// cursor is the aggregate's pagination cursor: the next cursor of every
// member that has more. It travels base64url-encoded JSON; its contents
// are the members' own opaque cursors, so a client that alters it reaches
// nothing it could not reach by sending those cursors itself.
type cursor struct {
	K int            `json:"k"` // list kind: a cursor of one list is refused by another
	P map[int]string `json:"p"` // member index -> its cursor
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, k listKind, members int) (map[int]string, bool) {
	if len(s) > 64*1024 {
		return nil, false
	}
	b, err := base64url.Decode(s)
	if err != nil {
		return nil, false
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.K != int(k) || len(c.P) == 0 {
		return nil, false
	}
	for i, mc := range c.P {
		if i < 0 || i >= members || mc == "" || len(mc) > maxMemberCursor {
			return nil, false
		}
	}
	return c.P, true
}

// page is one member's answer to a list request.
type page struct {
	items [][]byte // entries, names already prefixed
	next  string
}

// list serves tools/list, prompts/list, resources/list and
// resources/templates/list (2025-11-25 server/tools "Listing Tools" and
// the like, with utilities/pagination): every member with more to list is
// asked at once, each within the timeout; what answers is merged.
func (a *Aggregate) list(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message, k listKind) (upstream.Reply, error) {
	var want map[int]string
	if c := get(m.Params, "cursor"); c != nil {
		s, ok := jsonx.String(c)
		if ok {
			want, ok = decodeCursor(s, k, len(a.members))
		}
		if !ok {
			return errorReply(m.ID, jsonrpc.CodeInvalidParams, "Invalid params: invalid cursor"), nil
		}
	} else {
		want = map[int]string{}
		for i := range a.members {
			want[i] = "" // a member down is tried again (ensure)
		}
	}
	pages := make([]*page, len(a.members))
	var wg sync.WaitGroup
	for i, mc := range want {
		if !cs[i].up && mc != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
			defer cancel()
			if !a.ensure(cctx, req, cs, i) {
				return
			}
			p, err := a.listMember(cctx, req, cs, m, k, i, mc)
			if errors.Is(err, upstream.ErrSessionGone) {
				a.rev.lost(req.Key, i) // opened again on the next request
			}
			if err != nil {
				var re *jsonrpc.Error
				if errors.As(err, &re) && re.Code == jsonrpc.CodeMethodNotFound {
					return // the member has no such list
				}
				a.log.Warn("member left out of a list", "member", a.members[i].Name, "method", k.method(), "err", err)
				return
			}
			pages[i] = p
		}()
	}
	wg.Wait()
	return upstream.Message(jsonrpc.AppendResult(nil, m.ID, a.merge(k, pages))), nil
}

// listMember asks member i for one page.
func (a *Aggregate) listMember(ctx context.Context, req *upstream.Request, cs []child, m *jsonrpc.Message, k listKind, i int, mc string) (*page, error) {
	params := m.Params
	if params == nil || !jsonx.IsObject(params) {
		params = []byte(`{}`)
	}
	var err error
	if mc != "" {
		params, err = jsonx.Set(params, "cursor", jsonx.Quote(mc))
	} else if get(params, "cursor") != nil {
		params, err = jsonx.Delete(params, "cursor")
	}
	if err != nil {
		return nil, err
	}
	body := jsonrpc.AppendRequest(nil, m.ID, m.Method, params)
	reply, err := a.members[i].Upstream.Post(ctx, childRequest(req, cs[i], body, nil))
	if err != nil {
		return nil, err
	}
	res, err := upstream.FinalResult(ctx, reply)
	if err != nil {
		return nil, err
	}
	mem := &a.members[i]
	p := &page{}
	if next, ok := jsonx.String(get(res, "nextCursor")); ok && next != "" {
		if len(next) > maxMemberCursor {
			a.log.Warn("member's cursor too long: its list ends here", "member", mem.Name, "method", k.method(), "bytes", len(next))
		} else {
			p.next = next
		}
	}
	dropped := 0
	_, err = jsonx.Elements(res, k.key(), func(e []byte) bool {
		if len(p.items) >= a.o.MaxItems {
			dropped++
			return true
		}
		if !jsonx.IsObject(e) {
			return true
		}
		switch k {
		case kindTools, kindPrompts:
			raw := get(e, "name")
			name, ok := jsonx.String(raw)
			if !ok {
				return true
			}
			if k == kindTools && !mem.allowed(name) {
				return true
			}
			merged := mem.Prefix + name
			if j, _ := a.route(merged); j != i {
				other := "none"
				if j >= 0 {
					other = a.members[j].Name
				}
				a.log.Warn("name collision: entry left out", "member", mem.Name, "method", k.method(), "name", name, "routes_to", other)
				return true
			}
			if merged != name {
				if e = splice(e, raw, jsonx.Quote(merged)); e == nil {
					return true
				}
			}
		case kindResources:
			if uri, ok := jsonx.String(get(e, "uri")); ok {
				a.res.addURI(uri, i)
			} else {
				return true
			}
		case kindTemplates:
			if t, ok := jsonx.String(get(e, "uriTemplate")); ok {
				a.res.addTemplate(t, i)
			} else {
				return true
			}
		}
		if (k == kindResources || k == kindTemplates) && mem.Prefix != "" {
			// Their names are for display (URIs address them): prefixed
			// too, so that a client sees which server each comes from.
			if raw := get(e, "name"); raw != nil {
				if name, ok := jsonx.String(raw); ok {
					if ne := splice(e, raw, jsonx.Quote(mem.Prefix+name)); ne != nil {
						e = ne
					}
				}
			}
		}
		p.items = append(p.items, e)
		return true
	})
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		a.log.Warn("member's list page too long: entries dropped", "member", mem.Name, "method", k.method(), "dropped", dropped)
	}
	return p, nil
}

// merge writes the list result: entries in member order, duplicates left
// out (a tool or prompt name, a resource URI or template seen earlier),
// and the cursor for the members that have more.
func (a *Aggregate) merge(k listKind, pages []*page) []byte {
	b := []byte(`{"`)
	b = append(b, k.key()...)
	b = append(b, `":[`...)
	seen := map[string]int{}
	next := map[int]string{}
	n := 0
	for i, p := range pages {
		if p == nil {
			continue
		}
		if p.next != "" {
			next[i] = p.next
		}
		for _, e := range p.items {
			id := entryKey(k, e)
			if j, dup := seen[id]; dup {
				if j != i || k == kindResources || k == kindTemplates {
					a.log.Warn("collision: entry left out", "member", a.members[i].Name, "method", k.method(), "entry", id, "kept", a.members[j].Name)
				}
				continue
			}
			seen[id] = i
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, e...)
		}
	}
	b = append(b, ']')
	if len(next) > 0 {
		b = append(b, `,"nextCursor":`...)
		b = jsonx.AppendQuote(b, encodeCursor(cursor{K: int(k), P: next}))
	}
	return append(b, '}')
}

func entryKey(k listKind, e []byte) string {
	var key string
	switch k {
	case kindTools, kindPrompts:
		key = "name"
	case kindResources:
		key = "uri"
	default:
		key = "uriTemplate"
	}
	s, _ := jsonx.String(get(e, key))
	return s
}

// ---- resources ----

// resourceIndex remembers which member listed which resource URI and
// template. It is a cache built from lists: a URI it does not know makes
// the aggregate list the members' resources again.
type resourceIndex struct {
	rebuild sync.Mutex // held while the members' resources are listed
	last    time.Time  // when they were last listed (under rebuild)

	mu        sync.Mutex
	uris      map[string]int
	templates map[string]int // uriTemplate -> member
}

const maxIndexed = 100000

func (x *resourceIndex) addURI(uri string, i int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if j, ok := x.uris[uri]; ok && j <= i {
		return // the first member in order keeps it
	}
	if len(x.uris) >= maxIndexed {
		clear(x.uris)
	}
	x.uris[uri] = i
}

func (x *resourceIndex) addTemplate(t string, i int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if j, ok := x.templates[t]; ok && j <= i {
		return
	}
	if len(x.templates) >= maxIndexed {
		clear(x.templates)
	}
	x.templates[t] = i
}

// lookup returns the member of a URI: listed as such, or matching the
// literal beginning of a template (the longest one wins). With template
// set, uri is itself a template (completion/complete ref/resource).
func (x *resourceIndex) lookup(uri string, template bool) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if template {
		if i, ok := x.templates[uri]; ok {
			return i
		}
	} else if i, ok := x.uris[uri]; ok {
		return i
	}
	best, bestLen := -1, -1
	for t, i := range x.templates {
		lit, _, _ := strings.Cut(t, "{")
		if lit == "" || !strings.HasPrefix(uri, lit) {
			continue
		}
		if len(lit) > bestLen || len(lit) == bestLen && i < best {
			best, bestLen = i, len(lit)
		}
	}
	return best
}

// resourceMember finds the member of a URI, listing the members'
// resources and templates (every page, within the timeout) when the index
// does not know it yet.
func (a *Aggregate) resourceMember(ctx context.Context, req *upstream.Request, cs []child, uri string, template bool) int {
	if i := a.res.lookup(uri, template); i >= 0 {
		return i
	}
	// One listing at a time, at most one a second: reads of URIs nobody
	// lists must not make every member list everything each time.
	a.res.rebuild.Lock()
	defer a.res.rebuild.Unlock()
	if i := a.res.lookup(uri, template); i >= 0 {
		return i
	}
	if time.Since(a.res.last) < time.Second {
		return -1
	}
	defer func() { a.res.last = time.Now() }()
	a.fanOut(ctx, cs, func(ctx context.Context, i int) {
		for _, k := range []listKind{kindResources, kindTemplates} {
			mc := ""
			for range 100 {
				m := &jsonrpc.Message{Kind: jsonrpc.KindRequest, ID: jsonrpc.StringID("mcpfort-resources"), Method: k.method()}
				p, err := a.listMember(ctx, req, cs, m, k, i, mc)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						a.log.Debug("member resources not listed", "member", a.members[i].Name, "method", k.method(), "err", err)
					}
					break
				}
				if mc = p.next; mc == "" {
					break
				}
			}
		}
	})
	return a.res.lookup(uri, template)
}

// splice returns a copy of obj with old, a value inside it (a subslice, as
// jsonx.Get returns it), replaced by val: no second scan of obj.
func splice(obj, old, val []byte) []byte {
	off := cap(obj) - cap(old)
	if len(old) == 0 || off < 0 || off+len(old) > len(obj) || &obj[off] != &old[0] {
		return nil
	}
	out := make([]byte, 0, len(obj)-len(old)+len(val))
	out = append(out, obj[:off]...)
	out = append(out, val...)
	return append(out, obj[off+len(old):]...)
}
