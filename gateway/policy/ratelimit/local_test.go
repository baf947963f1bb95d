package ratelimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit/ratelimittest"
)

func TestLocalSuite(t *testing.T) {
	ratelimittest.Run(t, ratelimittest.Harness{New: func(t *testing.T) func() ratelimit.Store {
		l, err := ratelimit.NewLocal(ratelimit.LocalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return func() ratelimit.Store { return l }
	}})
}

func TestLocalBounded(t *testing.T) {
	l, _ := ratelimit.NewLocal(ratelimit.LocalOptions{MaxKeys: 64 * 4})
	now := time.Unix(1_800_000_000, 0)
	for i := range 10_000 {
		v, err := l.Take(context.Background(), now, []ratelimit.Take{{Key: string(rune(i)) + "k", Interval: time.Hour, Burst: 5, Cost: 1}})
		if err != nil || !v.Allowed {
			t.Fatalf("take %d: %+v %v", i, v, err)
		}
	}
	if n := l.Len(); n > 64*4 {
		t.Fatalf("Len = %d, want at most %d", n, 64*4)
	}
	if l.Evictions() == 0 {
		t.Fatal("no evictions counted")
	}
	// Buckets that are full again are dropped rather than evicted.
	l2, _ := ratelimit.NewLocal(ratelimit.LocalOptions{MaxKeys: 64})
	for i := range 1000 {
		now = now.Add(time.Second)
		l2.Take(context.Background(), now, []ratelimit.Take{{Key: string(rune(i)), Interval: time.Millisecond, Burst: 5, Cost: 1}})
	}
	if l2.Evictions() != 0 {
		t.Fatalf("evicted %d buckets that were already full", l2.Evictions())
	}
}

func TestLocalLongKeys(t *testing.T) {
	l, _ := ratelimit.NewLocal(ratelimit.LocalOptions{})
	now := time.Unix(1_800_000_000, 0)
	long := strings.Repeat("k", 100_000)
	take := func(k string) bool {
		v, err := l.Take(context.Background(), now, []ratelimit.Take{{Key: k, Interval: time.Minute, Burst: 1, Cost: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return v.Allowed
	}
	if !take(long+"a") || take(long+"a") || !take(long+"b") {
		t.Fatal("long keys must stay distinct buckets")
	}
}
