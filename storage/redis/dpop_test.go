package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth/dpop"
	"github.com/mcpfort/mcpfort/oauth/dpop/dpoptest"
)

var _ dpop.ReplayCache = (*DPoPReplay)(nil)

func TestDPoPReplay(t *testing.T) {
	prefix := fmt.Sprintf("mcpfort:test:dpop:%d:", time.Now().UnixNano())
	dpoptest.RunReplayCache(t, func(t *testing.T) dpop.ReplayCache {
		// Each call is a replica with its own client.
		return NewDPoPReplay(client(t, "redis://127.0.0.1:6379/0", 0), DPoPReplayOptions{KeyPrefix: prefix})
	})
}

func TestDPoPReplayUnreachable(t *testing.T) {
	bad := NewDPoPReplay(client(t, "redis://127.0.0.1:1/0", 0), DPoPReplayOptions{Timeout: 100 * time.Millisecond})
	start := time.Now()
	fresh, err := bad.Add(context.Background(), "k|j", time.Now().Add(time.Minute))
	if err == nil || fresh {
		t.Fatalf("unreachable Redis: Add = %v, %v; want an error and not fresh", fresh, err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("unreachable Redis took too long to fail")
	}
}
