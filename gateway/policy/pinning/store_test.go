package pinning_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

const (
	hashA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// stores opens each kind of store; open returns a second handle on the
// same database (a second replica).
func stores(t *testing.T) map[string]func() pinning.Store {
	t.Helper()
	open := func(database string) func() pinning.Store {
		return func() pinning.Store {
			s := pinning.NewSQLStore(storagetest.Open(t, database))
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	mem := pinning.NewMemoryStore()
	return map[string]func() pinning.Store{
		"memory":   func() pinning.Store { return mem },
		"sqlite":   open(storagetest.SQLite(t)),
		"postgres": open(storagetest.Postgres(t)),
	}
}

func TestStores(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open()
			now := time.UnixMilli(time.Now().UnixMilli()).UTC()
			if pins, err := s.Pins(ctx, "srv"); err != nil || len(pins) != 0 {
				t.Fatalf("empty store: %v, %v", pins, err)
			}
			c := pinning.Candidate{Server: "srv", Tool: "echo", Hash: hashB, Definition: []byte(`{"name":"echo"}`),
				Findings: []pinning.Finding{{Kind: "instruction", Path: "/description", Detail: "x"}}, FirstSeen: now, LastSeen: now}
			if err := s.AddCandidate(ctx, c); err != nil {
				t.Fatal(err)
			}
			later := c
			later.LastSeen = now.Add(time.Minute)
			if err := s.AddCandidate(ctx, later); err != nil {
				t.Fatal(err)
			}
			cs, err := s.Candidates(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]pinning.Candidate{later}, cs); diff != "" {
				t.Fatalf("candidates (-want +got):\n%s", diff)
			}
			pin := pinning.Pin{Server: "srv", Tool: "echo", Hash: hashB, Definition: []byte(`{"name":"echo"}`), ApprovedAt: now, ApprovedBy: "alice"}
			if err := s.Approve(ctx, pin); err != nil {
				t.Fatal(err)
			}
			pins, err := s.Pins(ctx, "srv")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]pinning.Pin{pin}, pins); diff != "" {
				t.Fatalf("pins (-want +got):\n%s", diff)
			}
			if cs, _ := s.Candidates(ctx, "srv"); len(cs) != 0 {
				t.Fatalf("approval left candidates: %v", cs)
			}
			if err := s.Revoke(ctx, "srv", "echo", "alice"); err != nil {
				t.Fatal(err)
			}
			if err := s.Revoke(ctx, "srv", "echo", "alice"); !errors.Is(err, pinning.ErrNotPinned) {
				t.Fatalf("second revoke: %v", err)
			}
			if pins, _ := s.Pins(ctx, ""); len(pins) != 0 {
				t.Fatalf("pins after revoke: %v", pins)
			}
		})
	}
}

// TestBootstrapOnce starts several replicas bootstrapping one server at
// once: exactly one pins its list.
func TestBootstrapOnce(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var wg sync.WaitGroup
			results := make(chan bool, 4)
			for i := range 4 {
				s := open()
				hash := hashA
				if i%2 == 1 {
					hash = hashB
				}
				wg.Go(func() {
					did, err := s.Bootstrap(ctx, "srv", []pinning.Pin{{Server: "srv", Tool: "t", Hash: hash, ApprovedBy: pinning.ApprovedByTOFU}})
					if err != nil {
						t.Error(err)
					}
					results <- did
				})
			}
			wg.Wait()
			close(results)
			n := 0
			for did := range results {
				if did {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d replicas bootstrapped, want 1", n)
			}
			s := open()
			if ok, err := s.Bootstrapped(ctx, "srv"); !ok || err != nil {
				t.Fatalf("Bootstrapped = %v, %v", ok, err)
			}
			pins, _ := s.Pins(ctx, "srv")
			if len(pins) != 1 {
				t.Fatalf("pins %v", pins)
			}
			if did, _ := s.Bootstrap(ctx, "srv", nil); did {
				t.Fatal("bootstrapped twice")
			}
		})
	}
}

func TestApproveRejectsBadPins(t *testing.T) {
	s := pinning.NewSQLStore(storagetest.Open(t, storagetest.SQLite(t)))
	defer s.Close()
	for _, p := range []pinning.Pin{{Server: "s", Tool: "t", Hash: "sha256:zz"}, {Tool: "t", Hash: hashA}, {Server: "s", Hash: hashA}} {
		if err := s.Approve(context.Background(), p); err == nil {
			t.Errorf("approved %+v", p)
		}
	}
}
