package authserver

import (
	"context"
	"fmt"
	"testing"
	"time"
)

var _ RateLimiter = (*memLimiter)(nil)

// fillLoginIPTable shrinks the per-address sign-in table to 500 keys and
// fills it, with addresses at one attempt or, if blocked, at their limit.
// It returns the capacity.
func fillLoginIPTable(t *testing.T, e *env, blocked bool) int {
	t.Helper()
	l := e.srv.loginIP.(*memLimiter)
	l.max = 500
	n := 1
	if blocked {
		n = e.srv.opts.LoginRateLimit
	}
	for i := 0; l.len() < l.max; i++ {
		for range n {
			l.Take(context.Background(), loginIPPrefix+ipBucket(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)), e.srv.opts.LoginRateLimit, time.Minute)
		}
	}
	return l.max
}

func loginIPTableLen(e *env) int { return e.srv.loginIP.(*memLimiter).len() }

// TestMemLimiter: the in-memory table's refunds, window ends, eviction
// order and sweep.
func TestMemLimiter(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	l := newMemLimiter(clock.Now)
	l.max = 3
	ctx := context.Background()
	take := func(k string) bool { ok, _, _ := l.Take(ctx, k, 2, time.Minute); return ok }
	if got := [3]bool{take("a"), take("a"), take("a")}; got != [3]bool{true, true, false} {
		t.Fatalf("limit 2: %v", got)
	}
	l.Refund(ctx, "a")
	if got := [2]bool{take("a"), take("a")}; got != [2]bool{true, false} {
		t.Fatalf("a refund gives back exactly one: %v", got)
	}
	take("b")
	clock.Advance(time.Second)
	take("c")
	// Full: "b" is the oldest entry below its limit, so "d" evicts it;
	// "a" is blocked and stays.
	if !take("d") || l.len() != 3 || take("a") {
		t.Fatalf("eviction: len %d", l.len())
	}
	if _, ok := l.table[memKey("b")]; ok {
		t.Fatal("b was not the one evicted")
	}
	clock.Advance(59 * time.Second)
	l.sweep()
	if l.len() != 2 { // "a" ended; "c" and "d" started a second later
		t.Fatalf("after sweep: %d keys", l.len())
	}
	if !take("a") {
		t.Fatal("a stayed blocked after its window")
	}
}
