package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// lister is the handler a test catalog lists through: it answers
// tools/list with pages of tools, optionally different per subject, and
// counts the listings.
type lister struct {
	mu      sync.Mutex
	pages   [][]string // tool names per page
	perUser bool       // prefix every name with the caller's subject
	fail    error
	block   chan struct{} // if set, each listing waits for it
	lists   atomic.Int64
}

func (l *lister) handle(ctx context.Context, c *Call) (upstream.Reply, error) {
	if c.Msg.Method != mcp.MethodToolsList {
		return nil, fmt.Errorf("unexpected %s", c.Msg.Method)
	}
	l.lists.Add(1)
	if l.block != nil {
		<-l.block
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	page := 0
	if cur, ok := jsonx.Get(c.Msg.Params, "cursor"); ok {
		s, _ := jsonx.String(cur)
		fmt.Sscanf(s, "p%d", &page)
	}
	prefix := ""
	if l.perUser && c.Principal != nil {
		prefix = c.Principal.Subject + "-"
	}
	var tools []string
	for _, n := range l.pages[page] {
		tools = append(tools, fmt.Sprintf(`{"name":%q,"inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}}`, prefix+n))
	}
	res := `{"tools":[` + strings.Join(tools, ",") + `]`
	if page+1 < len(l.pages) {
		res += fmt.Sprintf(`,"nextCursor":"p%d"`, page+1)
	}
	return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(res+"}"))), nil
}

func (l *lister) set(pages ...[]string) {
	l.mu.Lock()
	l.pages = pages
	l.mu.Unlock()
}

func caller(era mcp.Era, p *Principal) *Call {
	return &Call{Route: "r", Era: era, Principal: p}
}

var alice = &Principal{Issuer: "https://as", Subject: "alice", ClientID: "app", Scopes: []string{"a", "b"}}

// TestCatalogSharesOneListing checks that concurrent lookups of one caller
// wait for one tools/list, and that a caller giving up does not fail the
// others.
func TestCatalogSharesOneListing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &lister{pages: [][]string{{"echo"}}, block: make(chan struct{})}
		k := NewCatalog(l.handle, CatalogOptions{})
		leaderCtx, cancelLeader := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		lists := make([]*ToolList, 32)
		errs := make([]error, 32)
		for i := range 32 {
			ctx := context.Background()
			if i == 0 {
				ctx = leaderCtx
			}
			wg.Go(func() { lists[i], errs[i] = k.List(ctx, caller(mcp.EraLegacy, alice)) })
			if i == 0 {
				synctest.Wait() // the first caller leads the listing
			}
		}
		synctest.Wait() // everyone waits for the one listing
		cancelLeader()
		synctest.Wait()
		close(l.block)
		wg.Wait()
		if n := l.lists.Load(); n != 1 {
			t.Fatalf("%d listings for 32 concurrent lookups, want 1", n)
		}
		if !errors.Is(errs[0], context.Canceled) {
			t.Errorf("cancelled caller: err %v", errs[0])
		}
		for i := 1; i < 32; i++ {
			if errs[i] != nil || lists[i] != lists[1] {
				t.Fatalf("caller %d: %v, %p vs %p", i, errs[i], lists[i], lists[1])
			}
		}
		if _, ok := lists[1].Tool("echo"); !ok {
			t.Fatal("echo not listed")
		}
	})
}

// TestCatalogMissesCached checks that names the list lacks are answered
// from the list, without listing again, within the TTL.
func TestCatalogMissesCached(t *testing.T) {
	l := &lister{pages: [][]string{{"echo"}}}
	k := NewCatalog(l.handle, CatalogOptions{})
	for i := range 100 {
		list, err := k.List(context.Background(), caller(mcp.EraModern, alice))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := list.Tool(fmt.Sprint("made_up_", i)); ok {
			t.Fatal("a made-up tool was found")
		}
	}
	if n := l.lists.Load(); n != 1 {
		t.Fatalf("%d listings for 100 unknown names, want 1", n)
	}
}

// TestCatalogTTL checks that a list answers for the TTL and is listed
// again after it, and that an expired list comes back with a listing
// error.
func TestCatalogTTL(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	l := &lister{pages: [][]string{{"v1"}}}
	k := NewCatalog(l.handle, CatalogOptions{TTL: time.Minute, Now: func() time.Time { return now }})
	ctx := context.Background()
	has := func(name string) bool {
		t.Helper()
		list, err := k.List(ctx, caller(mcp.EraLegacy, nil))
		if err != nil {
			t.Fatal(err)
		}
		_, ok := list.Tool(name)
		return ok
	}
	if !has("v1") {
		t.Fatal("v1 missing")
	}
	l.set([]string{"v2"})
	now = now.Add(59 * time.Second)
	if !has("v1") || l.lists.Load() != 1 {
		t.Fatalf("within the TTL: %d listings", l.lists.Load())
	}
	now = now.Add(time.Second)
	if !has("v2") || l.lists.Load() != 2 {
		t.Fatalf("after the TTL: %d listings", l.lists.Load())
	}

	now = now.Add(time.Minute)
	l.fail = errors.New("connection refused")
	list, err := k.List(ctx, caller(mcp.EraLegacy, nil))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err %v, want the listing's", err)
	}
	if _, ok := list.Tool("v2"); !ok {
		t.Fatal("the expired list did not come back with the error")
	}
	// Failures are not cached: the next lookup tries again.
	if _, err := k.List(ctx, caller(mcp.EraLegacy, nil)); err == nil || l.lists.Load() != 4 {
		t.Fatalf("err %v, %d listings", err, l.lists.Load())
	}
	// A caller that never had a list gets nil with the error.
	if list, err := k.List(ctx, caller(mcp.EraModern, nil)); err == nil || list != nil {
		t.Fatalf("first listing failing: %v, %v", list, err)
	}
}

// TestCatalogPerCaller checks that lists are kept per era and per issuer,
// subject, client and scope set, and shared otherwise.
func TestCatalogPerCaller(t *testing.T) {
	l := &lister{pages: [][]string{{"tool"}}, perUser: true}
	k := NewCatalog(l.handle, CatalogOptions{})
	ctx := context.Background()
	lookup := func(c *Call) *ToolList {
		t.Helper()
		list, err := k.List(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	a := lookup(caller(mcp.EraLegacy, alice))
	if _, ok := a.Tool("alice-tool"); !ok {
		t.Fatal("alice's list")
	}
	bob := &Principal{Issuer: "https://as", Subject: "bob", ClientID: "app", Scopes: []string{"a", "b"}}
	b := lookup(caller(mcp.EraLegacy, bob))
	if _, ok := b.Tool("alice-tool"); ok {
		t.Fatal("bob sees alice's list")
	}
	if _, ok := b.Tool("bob-tool"); !ok {
		t.Fatal("bob's list")
	}
	// The same caller, scopes in another order, and with groups the
	// upstream never sees: the same list.
	same := &Principal{Issuer: "https://as", Subject: "alice", ClientID: "app", Scopes: []string{"b", "a"}, Groups: []string{"g"}}
	if lookup(caller(mcp.EraLegacy, same)) != a {
		t.Fatal("one caller got two lists")
	}
	n := l.lists.Load()
	for _, other := range []*Call{
		caller(mcp.EraModern, alice),
		caller(mcp.EraLegacy, &Principal{Issuer: "https://other", Subject: "alice", ClientID: "app", Scopes: []string{"a", "b"}}),
		caller(mcp.EraLegacy, &Principal{Issuer: "https://as", Subject: "alice", ClientID: "other", Scopes: []string{"a", "b"}}),
		caller(mcp.EraLegacy, &Principal{Issuer: "https://as", Subject: "alice", ClientID: "app", Scopes: []string{"a"}}),
		caller(mcp.EraLegacy, &Principal{Issuer: "https://as", Subject: "alice", ClientID: "app", Scopes: []string{"a b"}}),
		caller(mcp.EraLegacy, nil),
	} {
		if lookup(other) == a {
			t.Fatalf("era %v %+v shares alice's list", other.Era, other.Principal)
		}
	}
	if got := l.lists.Load() - n; got != 6 {
		t.Fatalf("%d listings for 6 other callers", got)
	}
}

// TestCatalogInvalidate checks that Invalidate makes the next lookup list
// again, and that a listing in flight when it is called is not kept.
func TestCatalogInvalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &lister{pages: [][]string{{"old"}}}
		k := NewCatalog(l.handle, CatalogOptions{})
		ctx := context.Background()
		if _, err := k.List(ctx, caller(mcp.EraLegacy, nil)); err != nil {
			t.Fatal(err)
		}
		l.set([]string{"new"})
		k.Invalidate()
		list, err := k.List(ctx, caller(mcp.EraLegacy, nil))
		if err != nil || l.lists.Load() != 2 {
			t.Fatalf("%v, %d listings", err, l.lists.Load())
		}
		if _, ok := list.Tool("new"); !ok {
			t.Fatal("the list after Invalidate is the old one")
		}

		// A listing that started before Invalidate answers its caller
		// but is not kept.
		l.block = make(chan struct{})
		k.Invalidate()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := k.List(ctx, caller(mcp.EraLegacy, nil)); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait()
		k.Invalidate()
		close(l.block)
		<-done
		l.block = nil
		if _, err := k.List(ctx, caller(mcp.EraLegacy, nil)); err != nil || l.lists.Load() != 4 {
			t.Fatalf("%v, %d listings: the listing from before Invalidate was kept", err, l.lists.Load())
		}
	})
}

// TestCatalogPages checks that every page is listed, in order, and that
// malformed and endless listings are errors.
func TestCatalogPages(t *testing.T) {
	l := &lister{pages: [][]string{{"a", "b"}, {"c"}, {"d"}}}
	k := NewCatalog(l.handle, CatalogOptions{})
	list, err := k.List(context.Background(), caller(mcp.EraLegacy, nil))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools() {
		names = append(names, tool.Name)
		if len(tool.headers) != 1 || tool.headers[0].header != "Mcp-Param-Region" {
			t.Errorf("%s: headers %+v", tool.Name, tool.headers)
		}
	}
	if strings.Join(names, ",") != "a,b,c,d" || l.lists.Load() != 3 {
		t.Fatalf("names %v, %d pages", names, l.lists.Load())
	}

	short := NewCatalog(l.handle, CatalogOptions{MaxPages: 2})
	if _, err := short.List(context.Background(), caller(mcp.EraLegacy, nil)); err == nil || !strings.Contains(err.Error(), "more than 2 pages") {
		t.Fatalf("endless listing: %v", err)
	}
	for _, res := range []string{`[]`, `{"tools":{}}`, `{"tools":[],"nextCursor":3}`} {
		bad := NewCatalog(func(ctx context.Context, c *Call) (upstream.Reply, error) {
			return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(res))), nil
		}, CatalogOptions{})
		if _, err := bad.List(context.Background(), caller(mcp.EraLegacy, nil)); err == nil {
			t.Errorf("result %s: no error", res)
		}
	}
}

// TestCatalogBounded checks that the lists kept stay within MaxLists.
func TestCatalogBounded(t *testing.T) {
	l := &lister{pages: [][]string{{"t"}}}
	k := NewCatalog(l.handle, CatalogOptions{MaxLists: 3})
	for i := range 20 {
		if _, err := k.List(context.Background(), caller(mcp.EraLegacy, &Principal{Issuer: "i", Subject: fmt.Sprint(i)})); err != nil {
			t.Fatal(err)
		}
	}
	k.mu.Lock()
	n := len(k.entries)
	k.mu.Unlock()
	if n > 3 {
		t.Fatalf("%d lists kept, want at most 3", n)
	}
}

// FuzzCatalogListing feeds the catalog an upstream's tools/list result: it
// never panics, and every tool it keeps is found by its name.
func FuzzCatalogListing(f *testing.F) {
	for _, seed := range []string{
		`{"tools":[{"name":"a","inputSchema":{"type":"object","properties":{"r":{"type":"string","x-mcp-header":"R"}}}}]}`,
		`{"tools":[{"name":"a"},{"name":"a","description":"twice"},{"nope":1},3,"x",null]}`,
		`{"tools":[],"nextCursor":"p1"}`,
		`{"tools":{},"nextCursor":null}`,
		`{"tools":[{"name":"\u00e9\ud83d\ude00","inputSchema":{"properties":{"a":{"properties":{"b":{"x-mcp-header":"B"}}}}}}]}`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, result []byte) {
		if jsonx.Validate(result, 0) != nil {
			return // the JSON-RPC decoder refuses it before the catalog sees it
		}
		pages := 0
		k := NewCatalog(func(ctx context.Context, c *Call) (upstream.Reply, error) {
			pages++
			return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, result)), nil
		}, CatalogOptions{MaxPages: 3})
		list, err := k.List(context.Background(), caller(mcp.EraModern, alice))
		if err != nil {
			return
		}
		for _, tool := range list.Tools() {
			if got, ok := list.Tool(tool.Name); !ok || got.Name != tool.Name {
				t.Fatalf("tool %q not found by name", tool.Name)
			}
		}
		if pages > 3 {
			t.Fatalf("%d pages read, want at most 3", pages)
		}
	})
}
