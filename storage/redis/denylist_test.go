package redis

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

func TestDenylist(t *testing.T) {
	prefix := fmt.Sprintf("mcpfort:test:%d:", time.Now().UnixNano())
	d1 := NewDenylist(client(t, "redis://127.0.0.1:6379/0", 0), DenylistOptions{KeyPrefix: prefix})
	d2 := NewDenylist(client(t, "redis://127.0.0.1:6379/0", 0), DenylistOptions{KeyPrefix: prefix}) // a second replica
	ctx := context.Background()
	var id, other [16]byte
	rand.Read(id[:])
	rand.Read(other[:])
	if err := d1.Deny(ctx, id, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Deny: %v (is Redis running on 127.0.0.1:6379?)", err)
	}
	if ok, err := d2.Denied(ctx, id); err != nil || !ok {
		t.Fatalf("the other replica does not see the denial: %v %v", ok, err)
	}
	if ok, _ := d2.Denied(ctx, other); ok {
		t.Fatal("an unrelated session is denied")
	}
	if err := d1.Deny(ctx, other, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d2.Denied(ctx, other); ok {
		t.Fatal("an already expired session was recorded")
	}
	ttl, err := d1.rdb.PTTL(ctx, d1.key(id)).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("key expiry = %v, %v", ttl, err)
	}
	d1.rdb.Del(ctx, d1.key(id))

	// Unreachable Redis: an error, promptly.
	bad := NewDenylist(client(t, "redis://127.0.0.1:1/0", 0), DenylistOptions{Timeout: 100 * time.Millisecond})
	start := time.Now()
	if _, err := bad.Denied(ctx, id); err == nil {
		t.Fatal("no error from an unreachable Redis")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("unreachable Redis took too long to fail")
	}
}
