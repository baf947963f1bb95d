package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"
)

// TestRevocationFeed: an event published by one replica is read by a
// replica that was following, and by one that starts later (catch-up);
// readers report themselves current, and stop doing so when Redis is
// unreachable.
func TestRevocationFeed(t *testing.T) {
	stream := fmt.Sprintf("mcpfort:test:revocations:%d", time.Now().UnixNano())
	newFeed := func(url string) *RevocationFeed {
		return NewRevocationFeed(client(t, url, 0), RevocationFeedOptions{Stream: stream, Poll: 50 * time.Millisecond})
	}
	pub := newFeed("redis://127.0.0.1:6379/0")
	ctx := context.Background()
	if err := pub.Ping(ctx); err != nil {
		t.Skipf("Redis not reachable on 127.0.0.1:6379: %v", err)
	}
	t.Cleanup(func() { pub.rdb.Del(context.Background(), stream) })

	type reader struct {
		mu      sync.Mutex
		events  []RevocationEvent
		current time.Time
	}
	follow := func(f *RevocationFeed) (*reader, func()) {
		r := &reader{}
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.Follow(fctx, func(ev RevocationEvent) {
				r.mu.Lock()
				r.events = append(r.events, ev)
				r.mu.Unlock()
			}, func(at time.Time) {
				r.mu.Lock()
				r.current = at
				r.mu.Unlock()
			})
		}()
		return r, func() { cancel(); <-done }
	}
	// waitFor polls r until cond holds, for at most a second.
	waitFor := func(r *reader, what string, cond func(*reader) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			r.mu.Lock()
			ok := cond(r)
			r.mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a second: not %s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
	}

	first, stop1 := follow(newFeed("redis://127.0.0.1:6379/0"))
	defer stop1()
	waitFor(first, "current", func(r *reader) bool { return !r.current.IsZero() })

	until := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	events := []RevocationEvent{
		{Issuer: "https://as.example.com", TokenID: "jti-1", Until: until},
		{Issuer: "https://as.example.com", GrantID: "fam-1", Until: until},
		{Issuer: "https://as.example.com", Subject: "u1", ClientID: "app", IssuedBefore: time.UnixMilli(time.Now().UnixMilli()), Until: until},
	}
	published := time.Now()
	for _, ev := range events {
		if err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(first, "given the events", func(r *reader) bool { return len(r.events) == len(events) })
	t.Logf("delivered within %v", time.Since(published))
	waitFor(first, "current after the events", func(r *reader) bool { return r.current.After(published) })
	first.mu.Lock()
	if diff := cmp.Diff(events, first.events); diff != "" {
		t.Errorf("events (-published +read):\n%s", diff)
	}
	first.mu.Unlock()

	// A garbage entry (written by something else) is skipped.
	if err := pub.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"e", "not an event"}}).Err(); err != nil {
		t.Fatal(err)
	}

	late, stop2 := follow(newFeed("redis://127.0.0.1:6379/0"))
	defer stop2()
	waitFor(late, "caught up", func(r *reader) bool { return len(r.events) == len(events) && !r.current.IsZero() })

	// Unreachable Redis: Publish fails, and a reader never reports
	// itself current.
	if err := newFeed("redis://127.0.0.1:1/0").Publish(ctx, events[0]); err == nil {
		t.Error("Publish to an unreachable Redis succeeded")
	}
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	newFeed("redis://127.0.0.1:1/0").Follow(dctx, func(RevocationEvent) { t.Error("an event from nowhere") },
		func(time.Time) { t.Error("a reader of an unreachable Redis reports itself current") })
}

func FuzzDecodeEvent(f *testing.F) {
	good, _ := encodeEvent(RevocationEvent{Issuer: "https://as.example.com", Subject: "u", ClientID: "c",
		IssuedBefore: time.UnixMilli(1_800_000_000_000), Until: time.UnixMilli(1_800_000_600_000)})
	for _, s := range []string{string(good), `{"iss":"x","jti":"a","until":1}`, `{"iss":"x","until":1,"extra":1}`,
		`{"iss":"x","until":1}{}`, `{"iss":"x","until":-1}`, `[]`, `null`, ``, `{"iss":"x","jti":"a","until":1e30}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeEvent(b)
		if err != nil {
			return
		}
		if ev.Issuer == "" || ev.Until.IsZero() {
			t.Fatalf("accepted an event without issuer or end: %q", b)
		}
		// What decodes re-encodes to the same event.
		again, err := encodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		ev2, err := decodeEvent(again)
		if err != nil || !cmp.Equal(ev, ev2) {
			t.Fatalf("round trip: %v %+v %+v", err, ev, ev2)
		}
	})
}
