package resourceserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingVerifier answers from a table and counts calls.
type countingVerifier struct {
	calls   atomic.Int64
	mu      sync.Mutex
	answers map[string]func() (*Principal, error)
	gate    chan struct{} // when set, Verify waits on it
}

func (v *countingVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	v.calls.Add(1)
	if v.gate != nil {
		select {
		case <-v.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	v.mu.Lock()
	f := v.answers[token]
	v.mu.Unlock()
	if f == nil {
		return nil, invalidToken("unknown", nil)
	}
	return f()
}

func (v *countingVerifier) set(token string, f func() (*Principal, error)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.answers == nil {
		v.answers = map[string]func() (*Principal, error){}
	}
	v.answers[token] = f
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	type step struct {
		advance   time.Duration
		token     string
		wantErr   error // nil = ok
		wantCalls int64 // total calls to the wrapped verifier after the step
	}
	tests := []struct {
		name  string
		opts  CacheOptions
		setup func(v *countingVerifier, clk *clock)
		steps []step
	}{
		{
			name: "hit until MaxAge, then asked again (revocation bound)",
			opts: CacheOptions{MaxAge: time.Minute},
			setup: func(v *countingVerifier, clk *clock) {
				exp := clk.Now().Add(time.Hour)
				v.set("t", func() (*Principal, error) { return &Principal{Subject: "s", Expiry: exp}, nil })
			},
			steps: []step{
				{0, "t", nil, 1},
				{30 * time.Second, "t", nil, 1},
				{30 * time.Second, "t", nil, 2},
			},
		},
		{
			name: "never past the token's expiry",
			opts: CacheOptions{MaxAge: time.Hour},
			setup: func(v *countingVerifier, clk *clock) {
				exp := clk.Now().Add(10 * time.Second)
				v.set("t", func() (*Principal, error) { return &Principal{Subject: "s", Expiry: exp}, nil })
			},
			steps: []step{
				{0, "t", nil, 1},
				{9 * time.Second, "t", nil, 1},
				{time.Second, "t", nil, 2},
			},
		},
		{
			name: "negative verdicts cached briefly",
			opts: CacheOptions{NegativeMaxAge: 5 * time.Second},
			steps: []step{
				{0, "bad", ErrInvalidToken, 1},
				{4 * time.Second, "bad", ErrInvalidToken, 1},
				{time.Second, "bad", ErrInvalidToken, 2},
			},
		},
		{
			name: "negative caching disabled",
			opts: CacheOptions{NegativeMaxAge: -1},
			steps: []step{
				{0, "bad", ErrInvalidToken, 1},
				{0, "bad", ErrInvalidToken, 2},
			},
		},
		{
			name: "unavailable is never cached",
			setup: func(v *countingVerifier, clk *clock) {
				v.set("t", func() (*Principal, error) { return nil, fmt.Errorf("%w: down", ErrUnavailable) })
			},
			steps: []step{
				{0, "t", ErrUnavailable, 1},
				{0, "t", ErrUnavailable, 2},
			},
		},
		{
			name: "bounded: the oldest entry goes first",
			opts: CacheOptions{MaxEntries: 2},
			setup: func(v *countingVerifier, clk *clock) {
				for _, tok := range []string{"a", "b", "c"} {
					v.set(tok, func() (*Principal, error) { return &Principal{Subject: tok}, nil })
				}
			},
			steps: []step{
				{0, "a", nil, 1},
				{0, "b", nil, 2},
				{0, "a", nil, 2},
				{0, "c", nil, 3}, // evicts a
				{0, "b", nil, 3},
				{0, "a", nil, 4},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			v := &countingVerifier{}
			if tt.setup != nil {
				tt.setup(v, clk)
			}
			tt.opts.Now = clk.Now
			c, err := NewCache(v, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				clk.Add(s.advance)
				_, err := c.Verify(ctx, s.token)
				if s.wantErr == nil && err != nil || s.wantErr != nil && !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
				}
				if got := v.calls.Load(); got != s.wantCalls {
					t.Fatalf("step %d: calls = %d, want %d", i, got, s.wantCalls)
				}
			}
			if c.Len() > max(tt.opts.MaxEntries, 0) && tt.opts.MaxEntries > 0 {
				t.Errorf("Len = %d over MaxEntries %d", c.Len(), tt.opts.MaxEntries)
			}
		})
	}
}

// TestCacheKeysAreHashes: the cache holds SHA-256 digests, never tokens.
func TestCacheKeysAreHashes(t *testing.T) {
	v := &countingVerifier{}
	v.set("secret-token", func() (*Principal, error) { return &Principal{Subject: "s"}, nil })
	c, err := NewCache(v, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(context.Background(), "secret-token"); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("secret-token"))
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.entries[want]; !ok || len(c.entries) != 1 {
		t.Errorf("entries are not keyed by the SHA-256 of the token")
	}
}

// TestCacheSingleFlight: concurrent requests with the same new token share
// one verification.
func TestCacheSingleFlight(t *testing.T) {
	v := &countingVerifier{gate: make(chan struct{})}
	v.set("t", func() (*Principal, error) { return &Principal{Subject: "s"}, nil })
	c, err := NewCache(v, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	results := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Verify(context.Background(), "t")
			results <- err
		}()
	}
	// Wait until the leader is inside Verify and the others are queued on
	// its flight, then release it.
	for v.calls.Load() == 0 {
		runtime.Gosched()
	}
	close(v.gate)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := v.calls.Load(); got != 1 {
		t.Errorf("wrapped verifier called %d times, want 1", got)
	}
}

func TestCacheRevocation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	v := &countingVerifier{}
	v.set("t", func() (*Principal, error) {
		return &Principal{Issuer: "https://as", Subject: "s", TokenID: "j1", Expiry: clk.Now().Add(time.Hour)}, nil
	})
	v.set("u", func() (*Principal, error) {
		return &Principal{Issuer: "https://other", Subject: "s", TokenID: "j1"}, nil
	})
	c, err := NewCache(v, CacheOptions{Now: clk.Now, MaxRevocations: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	c.RevokeTokenID("https://as", "j1", time.Time{})
	if _, err := c.Verify(ctx, "t"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked token: err = %v", err)
	}
	if _, err := c.Verify(ctx, "u"); err != nil {
		t.Fatalf("same jti from another issuer: %v", err)
	}
	// The list is bounded.
	c.RevokeTokenID("https://as", "j2", clk.Now().Add(time.Minute))
	c.RevokeTokenID("https://as", "j3", clk.Now().Add(2*time.Minute))
	if got := c.revokedN.Load(); got > 2 {
		t.Errorf("revocation list holds %d ids, bound 2", got)
	}
	// Forget drops a verdict.
	calls := v.calls.Load()
	c.Forget("u")
	if _, err := c.Verify(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if v.calls.Load() != calls+1 {
		t.Error("Forget did not drop the verdict")
	}
}
