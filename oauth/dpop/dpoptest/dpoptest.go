// Package dpoptest is the conformance suite every [dpop.ReplayCache] must
// pass, run on the in-memory cache and on the Redis one.
package dpoptest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth/dpop"
)

// RunReplayCache checks the contract of [dpop.ReplayCache] (RFC 9449
// section 11.1): a key is fresh once until it expires, two caches made by
// newCache share what they record when they stand for two replicas, and
// concurrent adds of one key let exactly one through. newCache returns a
// cache over the same backing state on every call within one test.
func RunReplayCache(t *testing.T, newCache func(t *testing.T) dpop.ReplayCache) {
	ctx := context.Background()
	uniq := func(s string) string { return fmt.Sprintf("%s-%d", s, time.Now().UnixNano()) }

	t.Run("OnceUntilExpiry", func(t *testing.T) {
		c := newCache(t)
		k := uniq("jkt|jti")
		exp := time.Now().Add(time.Minute)
		if fresh, err := c.Add(ctx, k, exp); err != nil || !fresh {
			t.Fatalf("first Add = %v, %v; want fresh", fresh, err)
		}
		if fresh, err := c.Add(ctx, k, exp); err != nil || fresh {
			t.Fatalf("second Add = %v, %v; want a replay", fresh, err)
		}
		if fresh, err := c.Add(ctx, uniq("other|jti"), exp); err != nil || !fresh {
			t.Fatalf("another key = %v, %v; want fresh", fresh, err)
		}
	})
	t.Run("SharedBetweenReplicas", func(t *testing.T) {
		a, b := newCache(t), newCache(t)
		k := uniq("jkt|shared")
		if fresh, err := a.Add(ctx, k, time.Now().Add(time.Minute)); err != nil || !fresh {
			t.Fatalf("Add on the first = %v, %v", fresh, err)
		}
		if fresh, err := b.Add(ctx, k, time.Now().Add(time.Minute)); err != nil || fresh {
			t.Fatalf("Add on the second = %v, %v; want a replay", fresh, err)
		}
	})
	t.Run("AlreadyExpired", func(t *testing.T) {
		c := newCache(t)
		k := uniq("jkt|past")
		// A key whose window has passed needs no record: the iat check
		// refuses its proof anyway. It must not be reported as a replay.
		if _, err := c.Add(ctx, k, time.Now().Add(-time.Second)); err != nil {
			t.Fatalf("Add of an expired key: %v", err)
		}
	})
	t.Run("Expires", func(t *testing.T) {
		c := newCache(t)
		k := uniq("jkt|short")
		if fresh, err := c.Add(ctx, k, time.Now().Add(50*time.Millisecond)); err != nil || !fresh {
			t.Fatalf("Add = %v, %v", fresh, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			fresh, err := c.Add(ctx, k, time.Now().Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if fresh {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the key never expired")
			}
			time.Sleep(20 * time.Millisecond) // waiting for wall-clock expiry in the backend itself
		}
	})
	t.Run("ConcurrentAddsOneWins", func(t *testing.T) {
		k := uniq("jkt|race")
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			c := newCache(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				fresh, err := c.Add(ctx, k, time.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if fresh {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d concurrent adds of one key were fresh, want exactly 1", n)
		}
	})
}
