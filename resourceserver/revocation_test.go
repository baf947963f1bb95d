package resourceserver

import (
	"context"
	"errors"
	"testing"
	"time"
)

const revIss = "https://as.example.com"

func revoked(err error) bool { return errors.Is(err, ErrInvalidToken) }
func mustList(t *testing.T, o RevocationListOptions) *RevocationList {
	t.Helper()
	l, err := NewRevocationList(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRevocationListMatches(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	iat := now.Add(-time.Minute)
	p := func(mod func(*Principal)) *Principal {
		pr := &Principal{Issuer: revIss, Subject: "alice", ClientID: "app", TokenID: "jti-1", GrantID: "fam-1",
			IssuedAt: iat, Expiry: now.Add(5 * time.Minute)}
		if mod != nil {
			mod(pr)
		}
		return pr
	}
	until := now.Add(10 * time.Minute)
	tests := []struct {
		name    string
		ev      Revocation
		p       *Principal
		revoked bool
	}{
		{"token id", Revocation{Issuer: revIss, TokenID: "jti-1", Until: until}, p(nil), true},
		{"other token id", Revocation{Issuer: revIss, TokenID: "jti-2", Until: until}, p(nil), false},
		{"grant", Revocation{Issuer: revIss, GrantID: "fam-1", Until: until}, p(nil), true},
		{"other grant", Revocation{Issuer: revIss, GrantID: "fam-2", Until: until}, p(nil), false},
		{"token without sid", Revocation{Issuer: revIss, GrantID: "fam-1", Until: until}, p(func(p *Principal) { p.GrantID = "" }), false},
		{"subject, issued before", Revocation{Issuer: revIss, Subject: "alice", IssuedBefore: now, Until: until}, p(nil), true},
		{"subject, issued in the same instant", Revocation{Issuer: revIss, Subject: "alice", IssuedBefore: iat, Until: until}, p(nil), true},
		{"subject, issued after", Revocation{Issuer: revIss, Subject: "alice", IssuedBefore: iat.Add(-time.Second), Until: until}, p(nil), false},
		{"subject, no iat", Revocation{Issuer: revIss, Subject: "alice", IssuedBefore: iat.Add(-time.Hour), Until: until}, p(func(p *Principal) { p.IssuedAt = time.Time{} }), true},
		{"other subject", Revocation{Issuer: revIss, Subject: "bob", IssuedBefore: now, Until: until}, p(nil), false},
		{"subject and client", Revocation{Issuer: revIss, Subject: "alice", ClientID: "app", IssuedBefore: now, Until: until}, p(nil), true},
		{"subject, other client", Revocation{Issuer: revIss, Subject: "alice", ClientID: "other", IssuedBefore: now, Until: until}, p(nil), false},
		{"other issuer's token", Revocation{Issuer: revIss, TokenID: "jti-1", Until: until}, p(func(p *Principal) { p.Issuer = "https://other.example.com" }), false},
		{"ended", Revocation{Issuer: revIss, TokenID: "jti-1", Until: now}, p(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ev.Matches(tt.p); got != tt.revoked && tt.name != "ended" {
				t.Errorf("Matches = %v, want %v", got, tt.revoked)
			}
			l := mustList(t, RevocationListOptions{Issuer: revIss, Now: clk.Now})
			if err := l.Add(tt.ev); err != nil {
				t.Fatal(err)
			}
			if err := l.Check(context.Background(), tt.p); revoked(err) != tt.revoked {
				t.Errorf("Check = %v, want revoked %v", err, tt.revoked)
			}
		})
	}
}

func TestRevocationListRefusesMalformed(t *testing.T) {
	l := mustList(t, RevocationListOptions{Issuer: revIss})
	until := time.Now().Add(time.Hour)
	for _, ev := range []Revocation{
		{Issuer: revIss, Until: until}, // selects nothing
		{Issuer: revIss, TokenID: "a", GrantID: "b", Until: until},
		{Issuer: revIss, ClientID: "app", Until: until},                   // would revoke every user's tokens of a client
		{Issuer: revIss, Subject: "alice", Until: until},                  // no IssuedBefore
		{Issuer: revIss, TokenID: "a"},                                    // no end
		{Issuer: "https://other.example.com", TokenID: "a", Until: until}, // not this list's issuer
		{TokenID: "a", Until: until},
	} {
		if err := l.Add(ev); err == nil {
			t.Errorf("Add(%+v) accepted", ev)
		}
	}
	if l.Len() != 0 {
		t.Errorf("Len = %d", l.Len())
	}
}

// TestRevocationListBounded: entries end with the tokens they concern, and
// at the cap the list never forgets a revocation silently: the tokens the
// dropped entry could cover are refused wholesale.
func TestRevocationListBounded(t *testing.T) {
	clk := newClock()
	l := mustList(t, RevocationListOptions{Issuer: revIss, MaxEntries: 3, Now: clk.Now})
	now := clk.Now()
	for i, d := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		if err := l.Add(Revocation{Issuer: revIss, TokenID: string(rune('a' + i)), Until: now.Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	// Full: adding "d" drops "a" (ending soonest) and refuses every token
	// issued so far that expires by a's end.
	if err := l.Add(Revocation{Issuer: revIss, TokenID: "d", Until: now.Add(4 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3", l.Len())
	}
	ctx := context.Background()
	a := &Principal{Issuer: revIss, TokenID: "a", IssuedAt: now.Add(-time.Minute), Expiry: now.Add(time.Minute)}
	if err := l.Check(ctx, a); !revoked(err) {
		t.Errorf("the dropped revocation's token is accepted: %v", err)
	}
	longer := &Principal{Issuer: revIss, TokenID: "x", IssuedAt: now.Add(-time.Minute), Expiry: now.Add(10 * time.Minute)}
	if err := l.Check(ctx, longer); err != nil {
		t.Errorf("a token outliving the dropped entry is refused: %v", err)
	}
	clk.Add(time.Second)
	later := &Principal{Issuer: revIss, TokenID: "y", IssuedAt: clk.Now(), Expiry: clk.Now().Add(30 * time.Second)}
	if err := l.Check(ctx, later); err != nil {
		t.Errorf("a token issued after the drop is refused: %v", err)
	}
	// Entries end with their tokens and are swept.
	clk.Add(5 * time.Minute)
	if err := l.Add(Revocation{Issuer: revIss, TokenID: "e", Until: clk.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 1 {
		t.Errorf("Len after expiry = %d, want 1", l.Len())
	}
}

// TestRevocationListStaleness: a list fed from outside refuses its
// issuer's tokens with ErrUnavailable until it is current, and when it
// falls behind; other issuers' tokens pass.
func TestRevocationListStaleness(t *testing.T) {
	clk := newClock()
	l := mustList(t, RevocationListOptions{Issuer: revIss, MaxStaleness: 3 * time.Second, Now: clk.Now})
	ctx := context.Background()
	mine := &Principal{Issuer: revIss, TokenID: "a"}
	theirs := &Principal{Issuer: "https://other.example.com", TokenID: "a"}
	if err := l.Check(ctx, mine); !errors.Is(err, ErrUnavailable) {
		t.Errorf("before the first MarkCurrent: %v, want ErrUnavailable", err)
	}
	if err := l.Check(ctx, theirs); err != nil {
		t.Errorf("another issuer's token: %v", err)
	}
	l.MarkCurrent(clk.Now())
	if err := l.Check(ctx, mine); err != nil {
		t.Errorf("current: %v", err)
	}
	clk.Add(3 * time.Second)
	if err := l.Check(ctx, mine); err != nil {
		t.Errorf("at the bound: %v", err)
	}
	clk.Add(time.Millisecond)
	if err := l.Check(ctx, mine); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Errorf("stale: %v, want ErrUnavailable only", err)
	}
	l.MarkCurrent(clk.Now().Add(-time.Hour)) // an older mark does not move it back
	l.MarkCurrent(clk.Now())
	if err := l.Check(ctx, mine); err != nil {
		t.Errorf("current again: %v", err)
	}
}

// TestCacheConsultsRevocations: a cached principal is refused on the next
// request once its token is revoked, without asking the wrapped verifier.
func TestCacheConsultsRevocations(t *testing.T) {
	clk := newClock()
	v := &countingVerifier{}
	v.set("tok", func() (*Principal, error) {
		return &Principal{Issuer: revIss, Subject: "alice", TokenID: "jti-1", GrantID: "fam-1", IssuedAt: clk.Now(), Expiry: clk.Now().Add(time.Hour)}, nil
	})
	l := mustList(t, RevocationListOptions{Issuer: revIss, Now: clk.Now})
	c, err := NewCache(v, CacheOptions{Revocations: l, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Verify(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(Revocation{Issuer: revIss, GrantID: "fam-1", Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(ctx, "tok"); !revoked(err) {
		t.Fatalf("cached principal of a revoked token: %v", err)
	}
	if n := v.calls.Load(); n != 1 {
		t.Errorf("verifier calls = %d, want 1", n)
	}
}

func BenchmarkRevocationListCheck(b *testing.B) {
	l, _ := NewRevocationList(RevocationListOptions{Issuer: revIss})
	until := time.Now().Add(time.Hour)
	for i := range 10_000 {
		l.Add(Revocation{Issuer: revIss, TokenID: string(rune(i)) + "x", Until: until})
	}
	p := &Principal{Issuer: revIss, Subject: "alice", ClientID: "app", TokenID: "not-revoked", GrantID: "g", IssuedAt: time.Now()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Check(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}
