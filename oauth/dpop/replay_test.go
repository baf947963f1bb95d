package dpop_test

import (
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth/dpop"
	"github.com/mcpfort/mcpfort/oauth/dpop/dpoptest"
)

func TestMemoryReplayCache(t *testing.T) {
	// Every call stands for the same replica: one cache.
	shared := &dpop.MemoryReplayCache{}
	dpoptest.RunReplayCache(t, func(*testing.T) dpop.ReplayCache { return shared })
}

func TestMemoryReplayCacheFull(t *testing.T) {
	c := &dpop.MemoryReplayCache{Max: 2}
	ctx := t.Context()
	exp := time.Now().Add(time.Minute)
	for _, k := range []string{"a", "b"} {
		if fresh, err := c.Add(ctx, k, exp); err != nil || !fresh {
			t.Fatalf("Add(%s) = %v, %v", k, fresh, err)
		}
	}
	if _, err := c.Add(ctx, "c", exp); err == nil {
		t.Fatal("a full cache accepted a new key: it must fail closed")
	}
}
