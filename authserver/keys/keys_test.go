package keys_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newStore(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "k.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func kek() []byte { k := make([]byte, keys.KEKSize); rand.Read(k); return k }

func jwksKids(t *testing.T, m *keys.Manager) []string {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		if _, ok := k["d"]; ok {
			t.Fatal("private key material in JWKS")
		}
		out = append(out, k["kid"].(string))
	}
	return out
}

func TestSignVerifyAlgorithms(t *testing.T) {
	for _, alg := range []string{"", keys.ES256, keys.RS256, keys.EdDSA} {
		t.Run("alg="+alg, func(t *testing.T) {
			m, err := keys.New(context.Background(), keys.Options{Store: newStore(t), KeyEncryptionKey: kek(), Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			tok, kid, err := m.Sign(context.Background(), "at+jwt", []byte(`{"sub":"alice"}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := jwksKids(t, m); len(got) != 1 || got[0] != kid {
				t.Fatalf("jwks kids %v, signed with %s", got, kid)
			}
			payload, err := m.Verify(tok, "at+jwt")
			if err != nil || string(payload) != `{"sub":"alice"}` {
				t.Fatalf("verify: %s %v", payload, err)
			}
			if _, err := m.Verify(tok, "application/AT+JWT"); err != nil {
				t.Errorf("typ with media-type prefix refused: %v", err)
			}
			if _, err := m.Verify(tok, "JWT"); err == nil {
				t.Error("wrong typ accepted")
			}
			parts := strings.Split(tok, ".")
			for name, bad := range map[string]string{
				"tampered payload": parts[0] + ".eyJzdWIiOiJtYWxsb3J5In0." + parts[2],
				"no signature":     parts[0] + "." + parts[1] + ".",
				"alg none":         "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".",
				"garbage":          "not.a.jwt",
			} {
				if _, err := m.Verify(bad, "at+jwt"); err == nil {
					t.Errorf("%s accepted", name)
				}
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	store := newStore(t)
	for name, o := range map[string]keys.Options{
		"no store":      {KeyEncryptionKey: kek()},
		"no kek":        {Store: store},
		"short kek":     {Store: store, KeyEncryptionKey: make([]byte, 16)},
		"bad algorithm": {Store: store, KeyEncryptionKey: kek(), Algorithm: "HS256"},
		"bad schedule":  {Store: store, KeyEncryptionKey: kek(), RotationPeriod: time.Hour, PublishAhead: 2 * time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := keys.New(context.Background(), o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestRotationSchedule walks a fake clock through one rotation: the
// successor is published PublishAhead early, signs from its activation, and
// the predecessor stays published RetainAfter longer.
func TestRotationSchedule(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	day := 24 * time.Hour
	m, err := keys.New(ctx, keys.Options{Store: newStore(t), KeyEncryptionKey: kek(), Now: c.Now,
		RotationPeriod: 30 * day, PublishAhead: day, RetainAfter: day, ReloadInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sign := func() string {
		t.Helper()
		_, kid, err := m.Sign(ctx, "at+jwt", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		return kid
	}
	k1 := sign()
	c.Advance(29*day - time.Hour)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := jwksKids(t, m); len(got) != 1 {
		t.Fatalf("successor published too early: %v", got)
	}
	c.Advance(time.Hour)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	kids := jwksKids(t, m)
	if len(kids) != 2 || kids[0] != k1 {
		t.Fatalf("successor not published ahead: %v", kids)
	}
	k2 := kids[1]
	if got := sign(); got != k1 {
		t.Errorf("successor signs before activation")
	}
	tokOld, _, _ := m.Sign(ctx, "at+jwt", []byte(`{"n":1}`))
	c.Advance(day)
	if got := sign(); got != k2 {
		t.Errorf("signing with %s after activation, want %s", got, k2)
	}
	if _, err := m.Verify(tokOld, "at+jwt"); err != nil {
		t.Errorf("token of the retired key no longer verifies: %v", err)
	}
	c.Advance(day + time.Minute)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := jwksKids(t, m); len(got) != 1 || got[0] != k2 {
		t.Errorf("retired key still published after RetainAfter: %v", got)
	}
	if _, err := m.Verify(tokOld, "at+jwt"); err == nil {
		t.Error("token of a removed key verifies")
	}
}

// TestOverdueRotation: a server that was down past the end of its key's
// period activates the successor at once.
func TestOverdueRotation(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := newStore(t)
	k := kek()
	o := keys.Options{Store: store, KeyEncryptionKey: k, Now: c.Now, RotationPeriod: 48 * time.Hour, PublishAhead: time.Hour, RetainAfter: time.Hour}
	m, err := keys.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	_, k1, _ := m.Sign(ctx, "at+jwt", []byte(`{}`))
	c.Advance(100 * time.Hour)
	m2, err := keys.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	_, k2, err := m2.Sign(ctx, "at+jwt", []byte(`{}`))
	if err != nil || k2 == k1 {
		t.Fatalf("overdue key still signing (%v)", err)
	}
}

func TestRestartAndWrongKEK(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	k := kek()
	m1, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: k})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := m1.Sign(ctx, "at+jwt", []byte(`{}`))
	m2, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: k})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Verify(tok, "at+jwt"); err != nil {
		t.Errorf("key lost across restart: %v", err)
	}
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: kek()}); err == nil {
		t.Error("wrong key-encryption key accepted")
	}
	// The private key is sealed: no PKCS#8 or JWK private member in the row.
	stored, _ := store.ListSigningKeys(ctx)
	if strings.Contains(string(stored[0].PublicJWK), `"d"`) {
		t.Error("private key in the public JWK column")
	}
}

// TestSwappedCiphertext: a sealed key moved onto another row (another kid)
// does not open, because the kid is authenticated data.
func TestSwappedCiphertext(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	k := kek()
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: k}); err != nil {
		t.Fatal(err)
	}
	stored, _ := store.ListSigningKeys(ctx)
	forged := *stored[0]
	forged.ID, forged.Generation = "forged", 99
	if err := store.CreateSigningKey(ctx, &forged); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: k}); err == nil {
		t.Error("key with a swapped ciphertext accepted")
	}
}

// TestConcurrentReplicas: replicas starting together on one store agree on
// one signing key.
func TestConcurrentReplicas(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	k := kek()
	var wg sync.WaitGroup
	kids := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			m, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: k})
			if err != nil {
				t.Error(err)
				return
			}
			_, kid, _ := m.Sign(ctx, "at+jwt", []byte(`{}`))
			kids <- kid
		})
	}
	wg.Wait()
	close(kids)
	first := ""
	for kid := range kids {
		if first == "" {
			first = kid
		} else if kid != first {
			t.Errorf("replicas sign with different keys: %s, %s", first, kid)
		}
	}
}

func TestKEKFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kek")
	k1, err := keys.LoadOrCreateKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	k2, err := keys.LoadOrCreateKEKFile(path)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("reload gave another key (%v)", err)
	}
	if err := os.WriteFile(path, []byte("c2hvcnQ="), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadOrCreateKEKFile(path); err == nil {
		t.Error("short key accepted")
	}
}

// TestKEKRotation: a replaced key-encryption key still opens the keys it
// sealed when listed as previous; new keys use the new one.
func TestKEKRotation(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	oldK, newK := kek(), kek()
	m1, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: oldK})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := m1.Sign(ctx, "at+jwt", []byte(`{}`))
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: newK}); err == nil {
		t.Fatal("new key-encryption key opened keys sealed with the old one")
	}
	m2, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: newK, PreviousKeyEncryptionKeys: [][]byte{oldK}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Verify(tok, "at+jwt"); err != nil {
		t.Errorf("token of the old sealing no longer verifies: %v", err)
	}
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: newK, PreviousKeyEncryptionKeys: [][]byte{{1}}}); err == nil {
		t.Error("malformed previous key accepted")
	}
}

// TestLiveKEKRotation: a keyring replaced while the Manager runs seals the
// keys it creates from then on with the new key-encryption key, so that
// once the keys sealed with the old one are retired the old one can go.
func TestLiveKEKRotation(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := newStore(t)
	oldK, newK := kek(), kek()
	o := keys.Options{Store: store, KeyEncryptionKey: oldK, Now: c.Now, RotationPeriod: 48 * time.Hour, PublishAhead: time.Hour, RetainAfter: time.Hour}
	m, err := keys.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetKeyEncryptionKeys(newK, [][]byte{{1, 2}}); err == nil {
		t.Fatal("malformed previous key accepted")
	}
	if err := m.SetKeyEncryptionKeys([]byte("short"), nil); err == nil {
		t.Fatal("short key accepted")
	}
	if _, _, err := m.Sign(ctx, "at+jwt", []byte(`{}`)); err != nil {
		t.Fatalf("a refused keyring broke signing: %v", err)
	}
	if err := m.SetKeyEncryptionKeys(newK, [][]byte{oldK}); err != nil {
		t.Fatal(err)
	}
	// The successor is created after the change: sealed with newK.
	c.Advance(48 * time.Hour)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	// Both keys still stored: opening needs the old key as previous.
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: newK, Now: c.Now}); err == nil {
		t.Fatal("a key sealed with the old key-encryption key opened without it")
	}
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: newK, PreviousKeyEncryptionKeys: [][]byte{oldK}, Now: c.Now,
		RotationPeriod: 48 * time.Hour, PublishAhead: time.Hour, RetainAfter: time.Hour}); err != nil {
		t.Fatalf("keyring with the old key as previous: %v", err)
	}
	// Once the first key is retired, the new key alone opens the rest.
	c.Advance(2 * time.Hour)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.New(ctx, keys.Options{Store: store, KeyEncryptionKey: newK, Now: c.Now,
		RotationPeriod: 48 * time.Hour, PublishAhead: time.Hour, RetainAfter: time.Hour}); err != nil {
		t.Fatalf("a key created after the rotation is not sealed with the new key-encryption key: %v", err)
	}
}
