package ratelimit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/glob"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Dimension is one part of a bucket key.
type Dimension string

// The dimensions a rule can key its buckets by.
const (
	// BySubject keys by the authenticated user (issuer and subject).
	// Anonymous callers of an open route share one bucket.
	BySubject Dimension = "subject"
	// ByClient keys by the OAuth client (issuer and client_id).
	ByClient Dimension = "client"
	// ByServer keys by the route (the upstream server's name).
	ByServer Dimension = "server"
	// ByTool keys by the tool name. A rule keyed by tool counts only
	// tools/call requests.
	ByTool Dimension = "tool"
)

// Rule is one limit. A request is allowed only if it fits within every rule
// that applies to it.
type Rule struct {
	// Name identifies the limit; it is part of every bucket key, so two
	// Limiters sharing a Store and a rule Name share that rule's buckets
	// (a per-subject limit across several routes). Required.
	Name string
	// By lists the dimensions that key the buckets. Empty: one bucket for
	// every caller.
	By []Dimension
	// Limit is how many cost units a bucket admits per Period. Required.
	Limit int64
	// Period is the window Limit applies to. Required; Period/Limit must
	// be at least one microsecond.
	Period time.Duration
	// Burst is how many cost units may be spent at once from a full
	// bucket. If zero, Limit.
	Burst int64
	// Methods restricts the rule to these request methods ("tools/call").
	// If empty, every request counts. Notifications and responses never
	// count.
	Methods []string
	// Tools restricts the rule to tools/call requests of the tools
	// matching one of these names or glob patterns: a budget for a group
	// of tools, such as one upstream's in a virtual server ("ev_*"). If
	// empty, every tool counts.
	Tools []string
}

// Cost weighs the tools/call requests of the tools matching Tool.
type Cost struct {
	// Tool is a tool name or glob pattern ('*' any run, '?' one character).
	Tool string
	// Cost is charged instead of 1 (0 makes the tool free).
	Cost int64
}

// Options configures a Limiter. The zero value limits nothing.
type Options struct {
	// Rules are the limits.
	Rules []Rule
	// Costs weigh tools/call requests; the first matching entry wins.
	// Other tools and other methods cost 1.
	Costs []Cost
	// Store holds the buckets. If nil, a Local store of its own
	// (in-memory, this replica only).
	Store Store
	// Timeout bounds one Store call, so that an unreachable Redis delays a
	// request by at most this much. If zero, 250ms.
	Timeout time.Duration
	// AllowOnStoreError lets requests through when the Store fails,
	// instead of refusing them with 503 and CodeOverloaded (fail-open
	// rather than fail-closed). Either way the failure is logged and
	// counted in Stats.
	AllowOnStoreError bool
	// Logger receives store failures (at most one line per second). If
	// nil, nothing is logged.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now. Replicas sharing a Redis store
	// use their own clocks, so they must be NTP-synchronized; a replica
	// whose clock runs ahead by d admits at most d's worth of extra calls.
	Now func() time.Time
}

// Stats counts a Limiter's decisions since it was made.
type Stats struct {
	// Allowed and Limited count requests admitted and refused by a rule.
	Allowed, Limited uint64
	// StoreErrors counts Store failures (timeouts, Redis unreachable);
	// FailedOpen counts those admitted anyway (AllowOnStoreError).
	StoreErrors, FailedOpen uint64
}

// Limiter is the rate-limit policy. It is safe for concurrent use.
type Limiter struct {
	rules   []rule
	costs   []cost
	store   Store
	local   bool // store is a *Local
	timeout time.Duration
	failOK  bool
	log     *slog.Logger
	now     func() time.Time

	allowed, limited, storeErrs, failedOpen atomic.Uint64
	lastLog                                 atomic.Int64
}

type rule struct {
	name     string
	dims     uint8 // bit set of dimension flags
	interval time.Duration
	burst    int64
	methods  []string
	tools    []glob.Pattern
}

const (
	dimSubject uint8 = 1 << iota
	dimClient
	dimServer
	dimTool
)

type cost struct {
	tool glob.Pattern
	cost int64
}

// New validates opts and returns a Limiter, reporting every configuration
// problem at once.
func New(opts Options) (*Limiter, error) {
	l := &Limiter{store: opts.Store, timeout: opts.Timeout, failOK: opts.AllowOnStoreError, log: opts.Logger, now: opts.Now}
	if l.timeout <= 0 {
		l.timeout = 250 * time.Millisecond
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for i, c := range opts.Costs {
		p, err := glob.Compile(c.Tool)
		if err != nil {
			bad("costs[%d].tool: %w", i, err)
			continue
		}
		if c.Cost < 0 {
			bad("costs[%d].cost: must not be negative", i)
		}
		l.costs = append(l.costs, cost{tool: p, cost: c.Cost})
	}
	seen := map[string]bool{}
	for i, r := range opts.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			bad("%s.name: required", at)
		} else if seen[r.Name] {
			bad("%s.name: %q is used twice", at, r.Name)
		}
		seen[r.Name] = true
		rr := rule{name: r.Name, burst: r.Burst, methods: r.Methods}
		for _, d := range r.By {
			var f uint8
			switch d {
			case BySubject:
				f = dimSubject
			case ByClient:
				f = dimClient
			case ByServer:
				f = dimServer
			case ByTool:
				f = dimTool
			default:
				bad("%s.by: unknown dimension %q (want subject, client, server or tool)", at, d)
			}
			if rr.dims&f != 0 {
				bad("%s.by: %q listed twice", at, d)
			}
			rr.dims |= f
		}
		if r.Limit <= 0 {
			bad("%s.limit: must be positive", at)
		}
		if r.Period <= 0 {
			bad("%s.period: must be positive", at)
		}
		if r.Limit > 0 && r.Period > 0 {
			// Whole microseconds, as every Store computes in them.
			rr.interval = (r.Period / time.Duration(r.Limit)).Truncate(time.Microsecond)
			if rr.interval < time.Microsecond {
				bad("%s: more than one call per microsecond (limit/period too high)", at)
			}
		}
		if rr.burst < 0 {
			bad("%s.burst: must not be negative", at)
		}
		if rr.burst == 0 {
			rr.burst = r.Limit
		}
		if rr.interval > 0 && rr.burst > math.MaxInt64/4/micros(rr.interval) {
			bad("%s: burst times period is too large", at)
		}
		for _, m := range r.Methods {
			if m == "" {
				bad("%s.methods: empty method name", at)
			}
		}
		for j, t := range r.Tools {
			p, err := glob.Compile(t)
			if err != nil || t == "" {
				bad("%s.tools[%d]: bad pattern %q", at, j, t)
				continue
			}
			rr.tools = append(rr.tools, p)
		}
		if len(rr.tools) > 0 && len(rr.methods) > 0 && !slices.Contains(rr.methods, mcp.MethodToolsCall) {
			bad("%s: limits tools but does not count %s", at, mcp.MethodToolsCall)
		}
		if rr.dims&dimTool != 0 && len(rr.methods) > 0 && !slices.Contains(rr.methods, mcp.MethodToolsCall) {
			bad("%s: keyed by tool but does not count %s", at, mcp.MethodToolsCall)
		}
		if rr.counts(mcp.MethodToolsCall) {
			for _, c := range l.costs {
				if c.cost > rr.burst {
					bad("%s: tool %q costs %d, more than the burst of %d: it could never be called", at, c.tool, c.cost, rr.burst)
				}
			}
		}
		l.rules = append(l.rules, rr)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("ratelimit: %w", errors.Join(errs...))
	}
	if l.store == nil {
		l.store, _ = NewLocal(LocalOptions{})
	}
	_, l.local = l.store.(*Local)
	return l, nil
}

func (r *rule) counts(method string) bool {
	if (r.dims&dimTool != 0 || len(r.tools) > 0) && method != mcp.MethodToolsCall {
		return false
	}
	return len(r.methods) == 0 || slices.Contains(r.methods, method)
}

// countsTool reports whether a tools/call of tool is the rule's.
func (r *rule) countsTool(tool string) bool {
	if len(r.tools) == 0 {
		return true
	}
	for _, p := range r.tools {
		if p.Match(tool) {
			return true
		}
	}
	return false
}

// Stats returns the decision counters (for metrics).
func (l *Limiter) Stats() Stats {
	return Stats{Allowed: l.allowed.Load(), Limited: l.limited.Load(), StoreErrors: l.storeErrs.Load(), FailedOpen: l.failedOpen.Load()}
}

var _ gateway.Middleware = (*Limiter)(nil).Wrap

// Wrap is the Limiter as gateway.Middleware. It should run before the other
// policies, so that calls they refuse still count (probing for hidden tools
// spends the caller's budget).
func (l *Limiter) Wrap(next gateway.Handler) gateway.Handler {
	if len(l.rules) == 0 {
		return next
	}
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Msg.Kind != jsonrpc.KindRequest {
			return next(ctx, c)
		}
		if err := l.check(ctx, c); err != nil {
			return nil, err
		}
		return next(ctx, c)
	}
}

// check charges the call to every applicable rule.
func (l *Limiter) check(ctx context.Context, c *gateway.Call) error {
	method := c.Msg.Method
	tool := ""
	n := int64(1)
	if method == mcp.MethodToolsCall {
		tool = c.Params.Name
		for _, cs := range l.costs {
			if cs.tool.Match(tool) {
				n = cs.cost
				break
			}
		}
	}
	var buf [4]Take
	takes := buf[:0]
	for i := range l.rules {
		r := &l.rules[i]
		if !r.counts(method) || method == mcp.MethodToolsCall && !r.countsTool(tool) {
			continue
		}
		takes = append(takes, Take{Key: r.key(c, tool), Interval: r.interval, Burst: r.burst, Cost: n})
	}
	if len(takes) == 0 {
		return nil
	}
	var v Verdict
	var err error
	now := l.now().Truncate(time.Microsecond)
	if l.local {
		// Memory never blocks: no timer to arm.
		v, err = l.store.Take(ctx, now, takes)
	} else {
		sctx, cancel := context.WithTimeout(ctx, l.timeout)
		v, err = l.store.Take(sctx, now, takes)
		cancel()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the client went away; not the store's fault
		}
		l.storeErrs.Add(1)
		l.logStoreError(err)
		if l.failOK {
			l.failedOpen.Add(1)
			return nil
		}
		return &gateway.Error{
			Status: http.StatusServiceUnavailable,
			Header: http.Header{"Retry-After": {"1"}},
			RPC:    jsonrpc.NewError(jsonrpc.CodeOverloaded, "Service unavailable: the rate limiter cannot be reached; retry later"),
		}
	}
	if v.Allowed {
		l.allowed.Add(1)
		return nil
	}
	l.limited.Add(1)
	return rateLimited(v.RetryAfter)
}

// rateLimited is the refusal: CodeRateLimited with data.retryAfter in
// whole seconds, on HTTP 429 with the same Retry-After (RFC 9110 section
// 10.2.3 delay-seconds; RFC 6585 section 4).
func rateLimited(d time.Duration) error {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	s := strconv.FormatInt(secs, 10)
	return &gateway.Error{
		Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {s}},
		RPC: &jsonrpc.Error{
			Code:    jsonrpc.CodeRateLimited,
			Message: "Rate limit exceeded: retry after " + s + "s",
			Data:    []byte(`{"retryAfter":` + s + `}`),
		},
	}
}

// key names the rule's bucket for the call: the rule name and the call's
// values for the rule's dimensions, each length-prefixed so that no two
// different combinations give the same key. Stores bound its length
// (tool names come from the client).
func (r *rule) key(c *gateway.Call, tool string) string {
	var buf [128]byte
	b := buf[:0]
	put := func(tag byte, s string) {
		b = append(b, tag)
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	put('r', r.name)
	p := c.Principal
	if r.dims&dimSubject != 0 {
		if p != nil {
			put('i', p.Issuer)
			put('s', p.Subject)
		} else {
			put('s', "")
		}
	}
	if r.dims&dimClient != 0 {
		if p != nil {
			put('i', p.Issuer)
			put('c', p.ClientID)
		} else {
			put('c', "")
		}
	}
	if r.dims&dimServer != 0 {
		put('v', c.Route)
	}
	if r.dims&dimTool != 0 {
		put('t', tool)
	}
	return string(b)
}

// logStoreError logs at most one store failure per second, so that an
// unreachable Redis does not flood the log; every failure is counted.
func (l *Limiter) logStoreError(err error) {
	now := l.now().Unix()
	last := l.lastLog.Load()
	if now == last || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	action := "refusing requests"
	if l.failOK {
		action = "admitting requests unchecked"
	}
	l.log.Warn("rate limit store unavailable: "+action, "err", err, "store_errors", l.storeErrs.Load())
}
