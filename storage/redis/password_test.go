package redis

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
)

// TestPasswordRotation authenticates as a Redis ACL user whose password
// rotates: new connections use what Password returns then, so after the
// server's password changes and old connections are gone, the client
// works again with the new one, and fails with the old.
func TestPasswordRotation(t *testing.T) {
	ctx := context.Background()
	admin := client(t, "redis://127.0.0.1:6379/0", 0)
	user := "mcpfort-pwtest-" + rand.Text()[:8]
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">first-password", "~"+user+":*", "+ping").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v (is Redis 6 or later running on 127.0.0.1:6379?)", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	var mu sync.Mutex
	pw := "first-password"
	c, err := NewClient(ClientOptions{URL: "redis://" + user + "@127.0.0.1:6379/0", Password: func() string { mu.Lock(); defer mu.Unlock(); return pw }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("first password: %v", err)
	}
	// The server's password changes and its connections are dropped.
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "resetpass", ">second-password").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "CLIENT", "KILL", "USER", user).Err(); err != nil {
		t.Fatal(err)
	}
	c.Ping(ctx) // may fail once on the killed connection
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("the old password still authenticates a new connection")
	}
	mu.Lock()
	pw = "second-password"
	mu.Unlock()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("rotated password: %v", err)
	}
}
