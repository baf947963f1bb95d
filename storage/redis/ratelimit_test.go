package redis

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newCounter(t *testing.T) *Counter {
	t.Helper()
	prefix := fmt.Sprintf("mcpfort:test:%d:", time.Now().UnixNano())
	c := NewCounter(client(t, "redis://127.0.0.1:6379/0", 0), CounterOptions{KeyPrefix: prefix})
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.rdb.Del(ctx, iter.Val())
		}
	})
	if err := c.rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis on 127.0.0.1:6379: %v", err)
	}
	return c
}

// TestCounterConcurrent: replicas racing on one key count exactly the
// limit, however many try at once.
func TestCounterConcurrent(t *testing.T) {
	c := newCounter(t)
	c2 := &Counter{rdb: c.rdb, prefix: c.prefix} // a second replica
	ctx := context.Background()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			cc := c
			if i%2 == 1 {
				cc = c2
			}
			took, _, err := cc.Take(ctx, "login-user:alice", 7, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if took {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n != 7 {
		t.Fatalf("%d of 50 concurrent events counted, want 7", n)
	}
	took, wait, err := c.Take(ctx, "login-user:alice", 7, time.Minute)
	if took || err != nil || wait <= 0 || wait > time.Minute {
		t.Fatalf("over the limit: %v %v %v", took, wait, err)
	}
	// A refund makes room for exactly one more.
	if err := c.Refund(ctx, "login-user:alice"); err != nil {
		t.Fatal(err)
	}
	if took, _, _ := c.Take(ctx, "login-user:alice", 7, time.Minute); !took {
		t.Fatal("refund gave nothing back")
	}
	if took, _, _ := c.Take(ctx, "login-user:alice", 7, time.Minute); took {
		t.Fatal("refund gave back more than one")
	}
	// Other keys are unaffected; nothing identifying is stored.
	if took, _, _ := c.Take(ctx, "login-user:bob", 7, time.Minute); !took {
		t.Fatal("another key is limited")
	}
	keys, _ := c.rdb.Keys(ctx, c.prefix+"*").Result()
	for _, k := range keys {
		if len(k) != len(c.prefix)+32 {
			t.Errorf("key %q is not a hash", k)
		}
		if ttl, _ := c.rdb.PTTL(ctx, k).Result(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("key %q expires in %v", k, ttl)
		}
	}
}

// TestCounterWindowEnds: a count expires with its window (Redis's clock).
func TestCounterWindowEnds(t *testing.T) {
	c := newCounter(t)
	ctx := context.Background()
	for range 2 {
		c.Take(ctx, "k", 2, 50*time.Millisecond)
	}
	if took, _, _ := c.Take(ctx, "k", 2, 50*time.Millisecond); took {
		t.Fatal("over the limit")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		took, _, err := c.Take(ctx, "k", 2, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if took {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the window never ended")
		}
	}
	// A refund after the window ended does not make a negative count.
	c.rdb.Del(ctx, c.key("k"))
	if err := c.Refund(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.rdb.Exists(ctx, c.key("k")).Result(); n != 0 {
		t.Fatal("refund created a key")
	}
}

// TestCounterDown: a closed port is an error, promptly, never a pass.
func TestCounterDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := NewCounter(client(t, "redis://"+addr+"/0", time.Second), CounterOptions{Timeout: 100 * time.Millisecond})
	start := time.Now()
	took, _, err := c.Take(context.Background(), "k", 10, time.Minute)
	if err == nil || took {
		t.Fatalf("Take on a closed port: %v %v", took, err)
	}
	if err := c.Refund(context.Background(), "k"); err == nil {
		t.Fatal("Refund on a closed port: no error")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("an unreachable Redis took too long to fail")
	}
}
