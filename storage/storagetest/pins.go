package storagetest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// PinOpener returns a new, empty pin store for one test, and a function
// that opens the same database again: a restart, or another replica.
type PinOpener func(t *testing.T) (s storage.PinStore, again func() storage.PinStore)

// RunPins runs the pin store's conformance suite.
func RunPins(t *testing.T, open PinOpener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.PinStore, again func() storage.PinStore)
	}{
		{"Approve", testPinApprove},
		{"Revoke", testPinRevoke},
		{"Bootstrap", testPinBootstrap},
		{"BootstrapRace", testPinBootstrapRace},
		{"Candidates", testPinCandidates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, again := open(t)
			tt.fn(t, s, again)
		})
	}
}

func pinHash(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func testPinApprove(t *testing.T, s storage.PinStore, again func() storage.PinStore) {
	ctx := context.Background()
	a := storage.Pin{Server: "files", Tool: "read", Hash: pinHash('a'), Definition: []byte(`{"name":"read"}`), ApprovedAt: t0, ApprovedBy: "alice"}
	b := storage.Pin{Server: "files", Tool: "write", Hash: pinHash('b'), ApprovedAt: t0.Add(time.Second), ApprovedBy: "pin-file"}
	c := storage.Pin{Server: "mail", Tool: "send", Hash: pinHash('c'), Definition: []byte{0, 1, 2, 0xff}, ApprovedAt: t0, ApprovedBy: "bob"}
	for _, p := range []storage.Pin{c, b, a} {
		must(t, s.ApprovePin(ctx, p))
	}
	got, err := s.Pins(ctx, "")
	must(t, err)
	diff(t, []storage.Pin{a, b, c}, got)
	got, err = s.Pins(ctx, "files")
	must(t, err)
	diff(t, []storage.Pin{a, b}, got)
	got, err = s.Pins(ctx, "nobody")
	must(t, err)
	diff(t, []storage.Pin(nil), got)

	// Approving a new definition replaces the pin and forgets the
	// tool's candidates, not other tools'.
	must(t, s.AddPinCandidate(ctx, storage.PinCandidate{Server: "files", Tool: "read", Hash: pinHash('d'), Definition: []byte("{}"), Findings: []byte("null"), FirstSeen: t0, LastSeen: t0}))
	must(t, s.AddPinCandidate(ctx, storage.PinCandidate{Server: "files", Tool: "write", Hash: pinHash('e'), Definition: []byte("{}"), Findings: []byte("null"), FirstSeen: t0, LastSeen: t0}))
	a2 := storage.Pin{Server: "files", Tool: "read", Hash: pinHash('d'), Definition: []byte("{}"), ApprovedAt: t0.Add(time.Hour), ApprovedBy: "alice"}
	must(t, s.ApprovePin(ctx, a2))
	got, err = again().Pins(ctx, "files")
	must(t, err)
	diff(t, []storage.Pin{a2, b}, got)
	cs, err := s.PinCandidates(ctx, "")
	must(t, err)
	if len(cs) != 1 || cs[0].Tool != "write" {
		t.Fatalf("candidates after approval: %+v", cs)
	}
}

func testPinRevoke(t *testing.T, s storage.PinStore, _ func() storage.PinStore) {
	ctx := context.Background()
	p := storage.Pin{Server: "files", Tool: "read", Hash: pinHash('a'), ApprovedAt: t0, ApprovedBy: "alice"}
	must(t, s.ApprovePin(ctx, p))
	wantErr(t, s.RevokePin(ctx, "files", "write", "bob", t0), storage.ErrNotFound)
	wantErr(t, s.RevokePin(ctx, "mail", "read", "bob", t0), storage.ErrNotFound)
	must(t, s.RevokePin(ctx, "files", "read", "bob", t0))
	got, err := s.Pins(ctx, "")
	must(t, err)
	diff(t, []storage.Pin(nil), got)
	wantErr(t, s.RevokePin(ctx, "files", "read", "bob", t0), storage.ErrNotFound)
}

func testPinBootstrap(t *testing.T, s storage.PinStore, again func() storage.PinStore) {
	ctx := context.Background()
	ok, err := s.PinsBootstrapped(ctx, "files")
	must(t, err)
	if ok {
		t.Fatal("bootstrapped before BootstrapPins")
	}
	// A pin of another server: refused, and nothing is marked.
	if _, err := s.BootstrapPins(ctx, "files", []storage.Pin{{Server: "mail", Tool: "send", Hash: pinHash('c'), ApprovedAt: t0}}, t0); err == nil {
		t.Fatal("a pin of another server was bootstrapped")
	}
	if ok, _ := s.PinsBootstrapped(ctx, "files"); ok {
		t.Fatal("a refused bootstrap marked the server")
	}
	first := []storage.Pin{{Server: "files", Tool: "read", Hash: pinHash('a'), ApprovedAt: t0, ApprovedBy: "trust-on-first-use"}}
	did, err := s.BootstrapPins(ctx, "files", first, t0)
	must(t, err)
	if !did {
		t.Fatal("first bootstrap did nothing")
	}
	did, err = again().BootstrapPins(ctx, "files", []storage.Pin{{Server: "files", Tool: "evil", Hash: pinHash('e'), ApprovedAt: t0}}, t0)
	must(t, err)
	if did {
		t.Fatal("second bootstrap pinned")
	}
	got, err := s.Pins(ctx, "files")
	must(t, err)
	diff(t, first, got)
	// An empty tool list still bootstraps its server, once.
	did, err = s.BootstrapPins(ctx, "empty", nil, t0)
	must(t, err)
	if ok, _ := s.PinsBootstrapped(ctx, "empty"); !did || !ok {
		t.Fatal("an empty bootstrap did not mark its server")
	}
}

// testPinBootstrapRace: of replicas bootstrapping one server at once,
// exactly one does.
func testPinBootstrapRace(t *testing.T, s storage.PinStore, again func() storage.PinStore) {
	stores := []storage.PinStore{s, again()}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			p := storage.Pin{Server: "files", Tool: "read", Hash: pinHash(byte('a' + i)), ApprovedAt: t0}
			did, err := stores[i%2].BootstrapPins(context.Background(), "files", []storage.Pin{p}, t0)
			if err != nil {
				t.Error(err)
			}
			if did {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Fatalf("%d bootstraps won, want 1", n)
	}
	got, err := s.Pins(context.Background(), "files")
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("pins after the race: %+v", got)
	}
}

func testPinCandidates(t *testing.T, s storage.PinStore, again func() storage.PinStore) {
	ctx := context.Background()
	c1 := storage.PinCandidate{Server: "files", Tool: "read", Hash: pinHash('a'), Definition: []byte(`{"name":"read"}`),
		Findings: []byte(`[{"kind":"instruction","path":"/description","detail":"ignore previous"}]`), FirstSeen: t0, LastSeen: t0}
	c2 := storage.PinCandidate{Server: "mail", Tool: "send", Hash: pinHash('b'), Definition: []byte(`{}`), Findings: []byte("null"),
		FirstSeen: t0, LastSeen: t0.Add(time.Minute)}
	must(t, s.AddPinCandidate(ctx, c1))
	must(t, s.AddPinCandidate(ctx, c2))
	got, err := s.PinCandidates(ctx, "")
	must(t, err)
	diff(t, []storage.PinCandidate{c2, c1}, got) // most recently seen first
	// Seen again: LastSeen moves, nothing else does.
	again1 := c1
	again1.FirstSeen, again1.LastSeen, again1.Findings = t0.Add(time.Hour), t0.Add(time.Hour), []byte("[]")
	must(t, again().AddPinCandidate(ctx, again1))
	c1.LastSeen = t0.Add(time.Hour)
	got, err = s.PinCandidates(ctx, "files")
	must(t, err)
	diff(t, []storage.PinCandidate{c1}, got)
	// A candidate without a definition is kept with an empty one.
	must(t, s.AddPinCandidate(ctx, storage.PinCandidate{Server: "x", Tool: "t", Hash: pinHash('c'), Findings: []byte("null"), FirstSeen: t0, LastSeen: t0}))
	got, err = s.PinCandidates(ctx, "x")
	must(t, err)
	if len(got) != 1 || len(got[0].Definition) != 0 {
		t.Fatalf("candidate without a definition: %+v", got)
	}
}
