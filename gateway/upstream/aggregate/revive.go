package aggregate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// A member that was down when a session began, or that lost its side of
// the session since (it restarted), is opened again when the session next
// needs it, at most once per Options.Retry: the new member session is kept in
// memory (revival), in front of what the session string says. Another
// replica, which does not hold it, opens one of its own the same way.

type revKey struct {
	key string // upstream.Request.Key: the client's session
	i   int
}

type revived struct {
	c    child     // the member's session now (c.up false: known lost)
	last time.Time // the last attempt to open one
}

type revival struct {
	mu sync.Mutex
	m  map[revKey]*revived
	n  atomic.Int64 // len(m), read without the lock on every request
}

const maxRevived = 10000

func (r *revival) get(k revKey) (revived, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	if !ok {
		return revived{}, false
	}
	return *v, true
}

func (r *revival) put(k revKey, v revived) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[k]; !ok && len(r.m) >= maxRevived {
		for old := range r.m { // drop an arbitrary entry: it costs one more initialize
			delete(r.m, old)
			break
		}
	}
	r.m[k] = &v
	r.n.Store(int64(len(r.m)))
}

// lost records that member i's side of the session is gone.
func (r *revival) lost(key string, i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.m[revKey{key, i}]; ok {
		v.c.up = false
		v.last = time.Time{}
		return
	}
	if len(r.m) < maxRevived {
		r.m[revKey{key, i}] = &revived{}
	}
	r.n.Store(int64(len(r.m)))
}

// forget drops what is kept for a session (deleted or initialized anew).
func (r *revival) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) == 0 {
		return
	}
	for k := range r.m {
		if k.key == key {
			delete(r.m, k)
		}
	}
	r.n.Store(int64(len(r.m)))
}

// session decodes req's session string, with the members' sessions opened
// since in front.
func (a *Aggregate) session(req *upstream.Request) ([]child, error) {
	cs, err := a.decodeSession(req.Session)
	if err != nil {
		return nil, err
	}
	if a.rev.n.Load() == 0 {
		return cs, nil // the common case: every member as sealed
	}
	a.rev.mu.Lock()
	for i := range cs {
		if v, ok := a.rev.m[revKey{req.Key, i}]; ok {
			cs[i] = v.c
		}
	}
	a.rev.mu.Unlock()
	return cs, nil
}

// ensure makes member i part of the session, opening its side again when
// it is down and was not tried within Options.Retry. It reports whether the
// member is up; cs[i] is updated.
func (a *Aggregate) ensure(ctx context.Context, req *upstream.Request, cs []child, i int) bool {
	if cs[i].up {
		return true
	}
	k := revKey{req.Key, i}
	now := time.Now()
	if v, ok := a.rev.get(k); ok && now.Sub(v.last) < a.o.Retry {
		return false
	}
	a.rev.put(k, revived{last: now})
	params := []byte(`{"protocolVersion":"` + mcp.LatestLegacy + `","capabilities":`)
	params = append(params, sessionCaps(req.Session)...)
	params = append(params, `,"clientInfo":{"name":`...)
	params = jsonx.AppendQuote(params, a.o.ServerInfo.Name)
	params = append(params, `,"version":`...)
	params = jsonx.AppendQuote(params, a.o.ServerInfo.Version)
	params = append(params, `}}`...)
	m, err := jsonrpc.Decode(jsonrpc.AppendRequest(nil, jsonrpc.StringID("mcpfort-aggregate-init"), mcp.MethodInitialize, params), jsonrpc.Limits{})
	if err != nil {
		return false
	}
	c, _, err := a.open(ctx, req, i, m)
	if err != nil {
		a.log.Warn("member still unavailable", "member", a.members[i].Name, "err", err)
		return false
	}
	// 2025-11-25 basic/lifecycle: initialized follows initialize.
	note := jsonrpc.AppendNotification(nil, "notifications/initialized", nil)
	if reply, err := a.members[i].Upstream.Post(ctx, childRequest(req, c, note, nil)); err == nil {
		reply.Close()
	}
	a.rev.put(k, revived{c: c, last: now})
	a.log.Info("member back in the session", "member", a.members[i].Name)
	cs[i] = c
	return true
}
