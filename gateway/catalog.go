package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// CatalogOptions configures a Catalog. The zero value is usable.
type CatalogOptions struct {
	// TTL is how long a fetched tool list answers lookups before the next
	// lookup lists the tools again. It bounds how long a definition the
	// upstream changed without notifying (a rug pull) goes unnoticed by
	// pinning and schema checks. If zero, 1 minute.
	TTL time.Duration
	// MaxPages bounds the tools/list pages of one listing; a longer
	// listing is an error. If zero, 50.
	MaxPages int
	// MaxLists bounds the lists kept, one per caller identity (see
	// Catalog). When full, expired lists make room first, then arbitrary
	// ones. If zero, 1024.
	MaxLists int
	// FetchTimeout bounds one listing. A listing is shared by every caller
	// waiting for it, so it does not end when the caller that started it
	// goes away. If zero, 30 seconds.
	FetchTimeout time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Catalog is one route's knowledge of its upstream's tools, shared by every
// check that needs a tool's definition: schema checks, pinning and the
// Mcp-Param-* header checks (2026-07-28 streamable-http "Custom Headers from
// Tool Parameters"). It lists the tools (tools/list, every page) as the
// caller, keeps the complete list for TTL, and answers every lookup from it:
// a name the list lacks is a miss without another listing, so calls naming
// made-up tools cannot turn into a stream of upstream tools/list.
//
// Lists are kept per caller identity, because an upstream may list
// different tools to different callers: the protocol era, and for an
// authenticated caller its issuer, subject, client and scopes, which is
// everything the upstream can learn of the caller (the gateway's upstream
// credentials carry no more). Two legacy sessions of one caller share a
// list. Concurrent lookups that need the same listing wait for one
// tools/list. Invalidate forgets every list, for
// notifications/tools/list_changed (2025-11-25 server/tools "List Changed
// Notification").
//
// A Catalog is safe for concurrent use.
type Catalog struct {
	list    Handler
	ttl     time.Duration
	pages   int
	max     int
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	gen     uint64 // incremented by Invalidate
	entries map[catalogKey]*catalogEntry
	flight  singleflight.Group
}

// catalogKey is a caller identity. A single scope is kept as it is; two or
// more are sorted and length-prefixed, so that no two scope sets give the
// same key, even with a space inside a scope (which RFC 6749 section 3.3
// forbids, but a token may carry).
type catalogKey struct {
	era                               mcp.Era
	issuer, subject, clientID, scopes string
	nScopes                           int
}

type catalogEntry struct {
	list    *ToolList
	fetched time.Time
}

// NewCatalog returns a Catalog that lists tools through list, the
// innermost handler of the route's plane: listings bypass the policies, so
// every check sees what the upstream lists, not what a policy left of it.
func NewCatalog(list Handler, opts CatalogOptions) *Catalog {
	k := &Catalog{list: list, ttl: opts.TTL, pages: opts.MaxPages, max: opts.MaxLists, timeout: opts.FetchTimeout, now: opts.Now,
		entries: map[catalogKey]*catalogEntry{}}
	if k.ttl <= 0 {
		k.ttl = time.Minute
	}
	if k.pages <= 0 {
		k.pages = 50
	}
	if k.max <= 0 {
		k.max = 1024
	}
	if k.timeout <= 0 {
		k.timeout = 30 * time.Second
	}
	if k.now == nil {
		k.now = time.Now
	}
	return k
}

// Tool is one tool definition as the upstream lists it. Its fields are
// read-only.
type Tool struct {
	// Name is the tool's name.
	Name string
	// Raw is the definition: the element of the result's tools array,
	// validated JSON.
	Raw []byte
	// InputSchema is Raw's inputSchema member, nil when absent.
	InputSchema []byte
	// Hash is the SHA-256 of Raw, for caches keyed by definition.
	Hash [sha256.Size]byte

	headers []paramHeader // x-mcp-header annotations of InputSchema
}

// ToolList is one complete listing of the upstream's tools. It is
// immutable: a new listing is a new ToolList, so a policy may remember
// which lists it has already looked at.
type ToolList struct {
	tools  []*Tool
	byName map[string]*Tool
}

// Tool returns the tool called name. When the upstream lists a name twice,
// the last definition is the one returned.
func (l *ToolList) Tool(name string) (*Tool, bool) {
	if l == nil {
		return nil, false
	}
	t, ok := l.byName[name]
	return t, ok
}

// Tools returns every tool in listing order. The slice is shared:
// callers must not modify it.
func (l *ToolList) Tools() []*Tool {
	if l == nil {
		return nil
	}
	return l.tools
}

// ErrNoCatalog is returned by Call.Tools for a call that did not come
// through a Gateway and was given no Catalog.
var ErrNoCatalog = errors.New("gateway: the call has no tool catalog")

// Tools returns the upstream's tools as the caller sees them, from the
// call's Catalog (see Catalog.List). The list is remembered for the rest of
// the call, so that every check of one call reads the same definitions and
// only the first pays for the lookup.
func (c *Call) Tools(ctx context.Context) (*ToolList, error) {
	if c.tools != nil {
		return c.tools, nil
	}
	if c.Catalog == nil {
		return nil, ErrNoCatalog
	}
	l, err := c.Catalog.List(ctx, c)
	if err == nil {
		c.tools = l
	}
	return l, err
}

// List returns the complete tool list for c's caller, listing the tools
// as that caller when the catalog has none younger than the TTL. When the
// listing fails, List returns the error together with the last list it
// had for the caller, expired, or nil if none: what to do then is the
// caller's decision.
func (k *Catalog) List(ctx context.Context, c *Call) (*ToolList, error) {
	key := keyOf(c)
	now := k.now()
	k.mu.Lock()
	e := k.entries[key]
	gen := k.gen
	k.mu.Unlock()
	if e != nil && now.Sub(e.fetched) < k.ttl {
		return e.list, nil
	}
	var stale *ToolList
	if e != nil {
		stale = e.list
	}
	ch := k.flight.DoChan(flightKey(key, gen), func() (any, error) {
		// Shared by every caller of this key: the first caller's
		// cancellation must not fail the others.
		// A flight that ended between this caller's look at the
		// entries and this one may have stored the list: no second
		// listing then.
		k.mu.Lock()
		e := k.entries[key]
		fresh := e != nil && k.gen == gen && k.now().Sub(e.fetched) < k.ttl
		k.mu.Unlock()
		if fresh {
			return e.list, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.timeout)
		defer cancel()
		l, err := k.fetch(fctx, c)
		if err != nil {
			return nil, err
		}
		k.store(key, gen, l)
		return l, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return stale, r.Err
		}
		return r.Val.(*ToolList), nil
	case <-ctx.Done():
		return stale, ctx.Err()
	}
}

// Invalidate forgets every list, so that the next lookup of each caller
// lists the tools again. Listings in flight when it is called answer their
// waiters but are not kept.
func (k *Catalog) Invalidate() {
	k.mu.Lock()
	k.gen++
	clear(k.entries)
	k.mu.Unlock()
}

func keyOf(c *Call) catalogKey {
	key := catalogKey{era: c.Era}
	p := c.Principal
	if p == nil {
		return key
	}
	key.issuer, key.subject, key.clientID, key.nScopes = p.Issuer, p.Subject, p.ClientID, len(p.Scopes)
	switch len(p.Scopes) {
	case 0:
	case 1:
		key.scopes = p.Scopes[0]
	default:
		scopes := p.Scopes
		if !slices.IsSorted(scopes) {
			scopes = slices.Sorted(slices.Values(scopes))
		}
		n := 0
		for _, sc := range scopes {
			n += len(sc) + binary.MaxVarintLen64
		}
		var b strings.Builder
		b.Grow(n)
		var l [binary.MaxVarintLen64]byte
		for _, sc := range scopes {
			b.Write(l[:binary.PutUvarint(l[:], uint64(len(sc)))])
			b.WriteString(sc)
		}
		key.scopes = b.String()
	}
	return key
}

// flightKey names one listing in flight: a caller identity in one
// generation, so that a lookup after Invalidate never joins a listing
// that started before it.
func flightKey(k catalogKey, gen uint64) string {
	return strconv.FormatUint(gen, 10) + "\x00" + strconv.Itoa(int(k.era)) + "\x00" + strconv.Itoa(k.nScopes) + "\x00" +
		strconv.Quote(k.issuer) + strconv.Quote(k.subject) + strconv.Quote(k.clientID) + strconv.Quote(k.scopes)
}

func (k *Catalog) store(key catalogKey, gen uint64, l *ToolList) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen != k.gen {
		return // invalidated while listing
	}
	if _, ok := k.entries[key]; !ok && len(k.entries) >= k.max {
		for ek, e := range k.entries {
			if now.Sub(e.fetched) >= k.ttl {
				delete(k.entries, ek)
			}
		}
		for ek := range k.entries { // random: map order
			if len(k.entries) < k.max {
				break
			}
			delete(k.entries, ek)
		}
	}
	k.entries[key] = &catalogEntry{list: l, fetched: now}
}

// errListCursor reports a nextCursor that is not a string.
var errListCursor = errors.New("gateway: tools/list nextCursor is not a string")

// fetch lists every page of tools as c's caller (2025-11-25
// server/utilities/pagination: the cursor is opaque and passed back as
// is).
func (k *Catalog) fetch(ctx context.Context, c *Call) (*ToolList, error) {
	l := &ToolList{byName: map[string]*Tool{}}
	params := []byte(`{}`)
	for page := 0; ; page++ {
		if page == k.pages {
			return nil, fmt.Errorf("gateway: %s lists more than %d pages of tools", c.Route, k.pages)
		}
		d, err := c.Derive(jsonrpc.StringID("mcpfort-tools-"+strconv.Itoa(page)), mcp.MethodToolsList, params)
		if err != nil {
			return nil, err
		}
		d.Catalog = nil
		reply, err := k.list(ctx, d)
		if err != nil {
			return nil, err
		}
		res, err := upstream.FinalResult(ctx, reply)
		if err != nil {
			return nil, err
		}
		if !jsonx.IsObject(res) {
			return nil, errors.New("gateway: tools/list result is not an object")
		}
		if tools, ok := jsonx.Get(res, "tools"); ok {
			err := jsonx.WalkArray(tools, func(raw []byte) bool {
				l.add(raw)
				return true
			})
			if err != nil {
				return nil, fmt.Errorf("gateway: tools/list result: %w", err)
			}
		}
		cur, ok := jsonx.Get(res, "nextCursor")
		if !ok || jsonx.IsNull(cur) {
			return l, nil
		}
		if !jsonx.IsString(cur) {
			return nil, errListCursor
		}
		if s, _ := jsonx.String(cur); s == "" {
			return l, nil
		}
		if params, err = jsonx.Set([]byte(`{}`), "cursor", cur); err != nil {
			return nil, err
		}
	}
}

// add records one element of a tools array. Elements that are not objects
// with a string name name no tool a call could reach and are skipped.
func (l *ToolList) add(raw []byte) {
	if !jsonx.IsObject(raw) {
		return
	}
	raw = slices.Clone(raw)
	var name string
	var hasName bool
	var schema []byte
	_ = jsonx.WalkObject(raw, func(k string, v []byte) bool {
		switch k {
		case "name":
			name, hasName = jsonx.String(v)
		case "inputSchema":
			schema = v
		}
		return true
	})
	if !hasName {
		return
	}
	t := &Tool{Name: name, Raw: raw, InputSchema: schema, Hash: sha256.Sum256(raw)}
	if schema != nil {
		t.headers = collectHeaders(schema, nil, nil, 0)
	}
	l.tools = append(l.tools, t)
	l.byName[name] = t
}
