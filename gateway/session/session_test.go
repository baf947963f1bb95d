package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSealOpen(t *testing.T) {
	old := GenerateSecret()
	kr, err := NewKeyring(GenerateSecret(), old)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	st := &State{
		ID: NewID(), Created: now, Expires: now.Add(time.Hour), Route: "everything",
		Principal: [16]byte{1, 2, 3}, Version: "2025-11-25", Mode: ModeToModern,
		UpstreamSession: "abc-123", Owner: "replica-1",
		ClientCapabilities: []byte(`{"sampling":{}}`), ClientInfo: []byte(`{"name":"c","version":"1"}`),
	}
	id, err := kr.Seal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("session id has a non-visible character %q", c)
		}
	}
	got, err := kr.Open(id, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if _, err := kr.Open(id, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired session: %v", err)
	}

	// Rotation: ids sealed by the old key still open while it is in the ring.
	oldRing, _ := NewKeyring(old)
	oldID, _ := oldRing.Seal(st)
	if _, err := kr.Open(oldID, now); err != nil {
		t.Fatalf("id sealed with a rotated-out key: %v", err)
	}
	newOnly, _ := NewKeyring(GenerateSecret())
	if _, err := newOnly.Open(id, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("foreign key: %v", err)
	}

	// Tampering anywhere is detected.
	for i := 0; i < len(id); i += 7 {
		b := []byte(id)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := kr.Open(string(b), now); err == nil {
			t.Fatalf("tampered id at %d accepted", i)
		}
	}
	for _, bad := range []string{"", "!!!", strings.Repeat("A", MaxIDLength+1), "AAAA"} {
		if _, err := kr.Open(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%.20q) = %v", bad, err)
		}
	}
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestDenylist(t *testing.T) {
	now := time.Unix(1000, 0)
	d := &MemoryDenylist{Now: func() time.Time { return now }}
	id := NewID()
	ctx := context.Background()
	if ok, _ := d.Denied(ctx, id); ok {
		t.Fatal("fresh id denied")
	}
	_ = d.Deny(ctx, id, now.Add(time.Minute))
	if ok, _ := d.Denied(ctx, id); !ok {
		t.Fatal("denied id not found")
	}
	now = now.Add(2 * time.Minute)
	if ok, _ := d.Denied(ctx, id); ok {
		t.Fatal("entry outlived its expiry")
	}
	for i := 0; i < 200; i++ {
		_ = d.Deny(ctx, NewID(), now.Add(-time.Second))
	}
	if len(d.m) > 130 {
		t.Fatalf("expired entries not swept: %d left", len(d.m))
	}
}

func FuzzOpen(f *testing.F) {
	kr, _ := NewKeyring(make([]byte, 32))
	id, _ := kr.Seal(&State{Expires: time.Unix(1<<40, 0)})
	f.Add(id)
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = kr.Open(s, time.Unix(0, 0))
	})
}

func FuzzUnmarshal(f *testing.F) {
	st := &State{Route: "r", Version: "v", ClientInfo: []byte("{}")}
	b, _ := st.marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := unmarshal(b)
		if err != nil {
			return
		}
		again, err := got.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unmarshal(again); err != nil {
			t.Fatalf("re-marshalled record does not parse: %v", err)
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	kr, _ := NewKeyring(GenerateSecret())
	now := time.Now()
	id, _ := kr.Seal(&State{ID: NewID(), Expires: now.Add(time.Hour), Route: "everything", Version: "2025-11-25", UpstreamSession: "0123456789abcdef0123456789"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Open(id, now); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSealDataPurpose(t *testing.T) {
	kr, _ := NewKeyring(GenerateSecret())
	s, err := kr.SealData("a", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := kr.OpenData("a", s); err != nil || string(p) != "payload" {
		t.Fatalf("OpenData = %q, %v", p, err)
	}
	if _, err := kr.OpenData("b", s); err == nil {
		t.Fatal("opened for another purpose")
	}
	if _, err := kr.Open(s, time.Now()); err == nil {
		t.Fatal("opened as a session id")
	}
	sid, _ := kr.Seal(&State{Expires: time.Now().Add(time.Hour)})
	if _, err := kr.OpenData("a", sid); err == nil {
		t.Fatal("a session id opened as data")
	}
	b := []byte(s)
	b[len(b)-3] ^= 1
	if _, err := kr.OpenData("a", string(b)); err == nil {
		t.Fatal("an altered value opened")
	}
}

// TestOpenCached: an id opened before opens again from the cache to an
// equal state that the caller owns; expiry is still checked; after
// Replace, an id the new keys cannot open is refused, not served from what
// the old keys opened.
func TestOpenCached(t *testing.T) {
	old, fresh := GenerateSecret(), GenerateSecret()
	kr, err := NewKeyring(old)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := &State{ID: NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "u", Created: now, Expires: now.Add(time.Minute),
		ClientInfo: []byte(`{"name":"c"}`)}
	id, err := kr.Seal(st)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kr.Open(id, now)
	if err != nil {
		t.Fatal(err)
	}
	// The first open filled the cache; the next two are served from it.
	for i, prev := 0, a; i < 2; i++ {
		prev.Version, prev.Mode, prev.ClientInfo = "changed", ModeToModern, nil
		b, err := kr.Open(id, now)
		if err != nil {
			t.Fatal(err)
		}
		if b == prev || b.Version != "2025-11-25" || b.Mode != ModePassthrough || string(b.ClientInfo) != `{"name":"c"}` || b.UpstreamSession != "u" {
			t.Fatalf("open %d: %+v shares or lost the state of the open before", i+2, b)
		}
		prev = b
	}
	if _, err := kr.Open(id, now.Add(2*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired cached id: %v, want ErrExpired", err)
	}
	if err := kr.Replace(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(id, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("id sealed with a removed key: %v, want ErrInvalid", err)
	}
	if err := kr.Replace(fresh, old); err != nil {
		t.Fatal(err)
	}
	if got, err := kr.Open(id, now); err != nil || got.Route != "r" {
		t.Fatalf("id sealed with an older key still listed: %+v %v", got, err)
	}
}

// TestOpenCacheBounded: the cache never holds more than maxOpened ids.
func TestOpenCacheBounded(t *testing.T) {
	kr, _ := NewKeyring(GenerateSecret())
	now := time.Now()
	for i := 0; i < maxOpened+10; i++ {
		id, err := kr.Seal(&State{ID: NewID(), Route: "r", Created: now, Expires: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kr.Open(id, now); err != nil {
			t.Fatal(err)
		}
	}
	ks := kr.keys.Load()
	if n := len(ks.opened.m); n > maxOpened {
		t.Fatalf("%d cached ids, want at most %d", n, maxOpened)
	}
}
