package ratelimittest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Harness makes stores for the suite.
type Harness struct {
	// New returns a fresh, empty store namespace for one test. Each call of
	// the returned function opens a replica over that namespace: the same
	// Local, or another client of the same Redis key prefix. The harness
	// cleans up when t ends.
	New func(t *testing.T) (replica func() ratelimit.Store)
}

// t0 is a fixed instant; times are whole microseconds, as the Limiter
// passes them.
var t0 = time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Run("BurstThenRefill", func(t *testing.T) { testBurstThenRefill(t, h) })
	t.Run("Costs", func(t *testing.T) { testCosts(t, h) })
	t.Run("AllOrNothing", func(t *testing.T) { testAllOrNothing(t, h) })
	t.Run("IndependentKeys", func(t *testing.T) { testIndependentKeys(t, h) })
	t.Run("IdleBucketIsFull", func(t *testing.T) { testIdle(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("Replicas", func(t *testing.T) { testReplicas(t, h) })
	t.Run("LimiterReplicas", func(t *testing.T) { testLimiterReplicas(t, h) })
}

type step struct {
	at    time.Duration // after t0
	takes []ratelimit.Take
	want  ratelimit.Verdict
}

func take(key string, interval time.Duration, burst, cost int64) ratelimit.Take {
	return ratelimit.Take{Key: key, Interval: interval, Burst: burst, Cost: cost}
}

func allowed() ratelimit.Verdict { return ratelimit.Verdict{Allowed: true} }

func denied(i int, retry time.Duration) ratelimit.Verdict {
	return ratelimit.Verdict{Denied: i, RetryAfter: retry}
}

func runSteps(t *testing.T, s ratelimit.Store, steps []step) {
	t.Helper()
	for i, st := range steps {
		got, err := s.Take(context.Background(), t0.Add(st.at), st.takes)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != st.want {
			t.Fatalf("step %d at +%v: got %+v, want %+v", i, st.at, got, st.want)
		}
	}
}

func testBurstThenRefill(t *testing.T, h Harness) {
	s := h.New(t)()
	a := take("a", time.Second, 3, 1)
	runSteps(t, s, []step{
		{0, []ratelimit.Take{a}, allowed()},
		{0, []ratelimit.Take{a}, allowed()},
		{0, []ratelimit.Take{a}, allowed()},
		{0, []ratelimit.Take{a}, denied(0, time.Second)},
		{300 * time.Millisecond, []ratelimit.Take{a}, denied(0, 700*time.Millisecond)},
		{time.Second, []ratelimit.Take{a}, allowed()},
		{time.Second, []ratelimit.Take{a}, denied(0, time.Second)},
		{2500 * time.Millisecond, []ratelimit.Take{a}, allowed()},
		{2500 * time.Millisecond, []ratelimit.Take{a}, denied(0, 500*time.Millisecond)},
	})
}

func testCosts(t *testing.T, h Harness) {
	s := h.New(t)()
	const iv = 100 * time.Millisecond
	runSteps(t, s, []step{
		{0, []ratelimit.Take{take("c", iv, 5, 3)}, allowed()},
		{0, []ratelimit.Take{take("c", iv, 5, 3)}, denied(0, 100*time.Millisecond)},
		{0, []ratelimit.Take{take("c", iv, 5, 2)}, allowed()},
		{0, []ratelimit.Take{take("c", iv, 5, 0)}, allowed()},
		{0, []ratelimit.Take{take("c", iv, 5, 1)}, denied(0, iv)},
		// A cost above the burst never fits; the wait reported is what a
		// full bucket would still lack.
		{time.Hour, []ratelimit.Take{take("c", iv, 5, 7)}, denied(0, 200*time.Millisecond)},
		{time.Hour, []ratelimit.Take{take("c", iv, 5, 5)}, allowed()},
	})
}

func testAllOrNothing(t *testing.T, h Harness) {
	s := h.New(t)()
	a := take("tight", time.Second, 1, 1)
	b := take("loose", time.Second, 3, 1)
	runSteps(t, s, []step{
		{0, []ratelimit.Take{a, b}, allowed()},
		// a refuses, so b must not be charged.
		{0, []ratelimit.Take{b, a}, denied(1, time.Second)},
		{0, []ratelimit.Take{b}, allowed()},
		{0, []ratelimit.Take{b}, allowed()},
		{0, []ratelimit.Take{b}, denied(0, time.Second)},
		// Both refuse: the wait is the longer one.
		{0, []ratelimit.Take{take("t2", time.Second, 1, 1), take("slow", 5*time.Second, 1, 1)}, allowed()},
		{0, []ratelimit.Take{take("t2", time.Second, 1, 1), take("slow", 5*time.Second, 1, 1)}, denied(0, 5*time.Second)},
	})
}

func testIndependentKeys(t *testing.T, h Harness) {
	s := h.New(t)()
	runSteps(t, s, []step{
		{0, []ratelimit.Take{take("k1", time.Minute, 1, 1)}, allowed()},
		{0, []ratelimit.Take{take("k1", time.Minute, 1, 1)}, denied(0, time.Minute)},
		{0, []ratelimit.Take{take("k2", time.Minute, 1, 1)}, allowed()},
		{0, []ratelimit.Take{take("k1\x00", time.Minute, 1, 1)}, allowed()},
	})
}

func testIdle(t *testing.T, h Harness) {
	s := h.New(t)()
	a := take("idle", 10*time.Millisecond, 2, 1)
	runSteps(t, s, []step{
		{0, []ratelimit.Take{a}, allowed()},
		{0, []ratelimit.Take{a}, allowed()},
		{0, []ratelimit.Take{a}, denied(0, 10*time.Millisecond)},
		{24 * time.Hour, []ratelimit.Take{a}, allowed()},
		{24 * time.Hour, []ratelimit.Take{a}, allowed()},
		{24 * time.Hour, []ratelimit.Take{a}, denied(0, 10*time.Millisecond)},
	})
}

func testConcurrent(t *testing.T, h Harness) {
	replica := h.New(t)
	stores := []ratelimit.Store{replica(), replica()}
	const burst = 40
	var ok, no atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				v, err := stores[g%2].Take(context.Background(), t0, []ratelimit.Take{take("hot", time.Hour, burst, 1)})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				if v.Allowed {
					ok.Add(1)
				} else {
					no.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if ok.Load() != burst || no.Load() != 80-burst {
		t.Fatalf("allowed %d, refused %d; want %d and %d", ok.Load(), no.Load(), burst, 80-burst)
	}
}

func testReplicas(t *testing.T, h Harness) {
	replica := h.New(t)
	r1, r2 := replica(), replica()
	a := take("shared", time.Second, 2, 1)
	runSteps(t, r1, []step{{0, []ratelimit.Take{a}, allowed()}})
	runSteps(t, r2, []step{{0, []ratelimit.Take{a}, allowed()}})
	runSteps(t, r1, []step{{0, []ratelimit.Take{a}, denied(0, time.Second)}})
	runSteps(t, r2, []step{{0, []ratelimit.Take{a}, denied(0, time.Second)}})
	runSteps(t, r2, []step{{time.Second, []ratelimit.Take{a}, allowed()}})
	runSteps(t, r1, []step{{time.Second, []ratelimit.Take{a}, denied(0, time.Second)}})
}

// testLimiterReplicas runs two Limiters, as two gateway replicas would,
// over replicas of one store: the limit is shared, keyed by identity and
// never by session.
func testLimiterReplicas(t *testing.T, h Harness) {
	replica := h.New(t)
	now := t0
	rules := []ratelimit.Rule{
		{Name: "per-user", By: []ratelimit.Dimension{ratelimit.BySubject}, Limit: 3, Period: time.Minute},
		{Name: "per-user-tool", By: []ratelimit.Dimension{ratelimit.BySubject, ratelimit.ByTool}, Limit: 10, Period: time.Minute},
	}
	costs := []ratelimit.Cost{{Tool: "expensive", Cost: 3}}
	mk := func() gateway.Handler {
		l, err := ratelimit.New(ratelimit.Options{Rules: rules, Costs: costs, Store: replica(), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return l.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) {
			return upstream.Message([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)), nil
		})
	}
	g1, g2 := mk(), mk()
	alice := &gateway.Principal{Issuer: "https://as", Subject: "alice", ClientID: "c1"}
	bob := &gateway.Principal{Issuer: "https://as", Subject: "bob", ClientID: "c1"}
	call := func(g gateway.Handler, p *gateway.Principal, session, tool string) error {
		raw := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, tool)
		m, err := jsonrpc.Decode(raw, jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		params, _ := mcp.ParseParams(m.Params)
		_ = session // sessions are deliberately not part of any key
		r, err := g(context.Background(), &gateway.Call{Route: "r", Era: mcp.EraModern, Principal: p, Msg: m, Params: params})
		if err == nil {
			r.Close()
		}
		return err
	}
	want429 := func(err error) {
		t.Helper()
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Status != http.StatusTooManyRequests || ge.RPC.Code != jsonrpc.CodeRateLimited || ge.Header.Get("Retry-After") == "" {
			t.Fatalf("got %v, want 429 with CodeRateLimited and Retry-After", err)
		}
	}
	if err := call(g1, alice, "s1", "echo"); err != nil {
		t.Fatal(err)
	}
	if err := call(g2, alice, "s2", "echo"); err != nil {
		t.Fatal(err)
	}
	if err := call(g1, alice, "s3", "echo"); err != nil {
		t.Fatal(err)
	}
	want429(call(g2, alice, "s4", "echo"))
	want429(call(g1, alice, "new-session", "other"))
	if err := call(g2, bob, "s1", "expensive"); err != nil {
		t.Fatal(err)
	}
	want429(call(g1, bob, "s1", "echo"))
	now = now.Add(20 * time.Second)
	if err := call(g2, alice, "s1", "echo"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}
