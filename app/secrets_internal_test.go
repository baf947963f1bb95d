package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/session"
)

// TestSessionSecretRotation rotates a file-held session secret under the
// keyring sessionKeyring builds: from the refresh on, ids are sealed with
// the new value, and ids sealed with the old one still open until
// sessions.ttl has passed since the rotation.
func TestSessionSecretRotation(t *testing.T) {
	r := newSecretRotation(t)
	kr := r.keyring
	now := r.now
	st := &session.State{Route: "a", Expires: now.Add(24 * time.Hour)}
	old, _ := kr.Seal(st)
	r.rotate('b')
	if _, err := kr.Open(old, now); err != nil {
		t.Fatalf("a session sealed before the rotation: %v", err)
	}
	fresh, _ := kr.Seal(st)
	onlyNew, _ := session.NewKeyring([]byte(strings.Repeat("b", 32)))
	if _, err := onlyNew.Open(fresh, now); err != nil {
		t.Fatalf("not sealed with the new secret: %v", err)
	}
	// Past sessions.ttl, the next rotation drops the old value.
	now = now.Add(2 * time.Hour)
	r.now = now
	r.rotate('c')
	if _, err := kr.Open(old, now.Add(-time.Hour)); err == nil {
		t.Fatal("a session of a value retired longer than sessions.ttl still opens")
	}
	if _, err := kr.Open(fresh, now); err != nil {
		t.Fatalf("a session of the previous value: %v", err)
	}
}

// secretRotation is an App whose sessions.secrets is one file-held value,
// 32 times 'a' at first, with sessions.ttl 1h and a clock the test moves.
type secretRotation struct {
	a       *App
	keyring *session.Keyring
	file    string
	now     time.Time
}

func newSecretRotation(t *testing.T) *secretRotation {
	t.Helper()
	dir := t.TempDir()
	r := &secretRotation{file: filepath.Join(dir, "session.secret"), now: time.Unix(1e9, 0)}
	if err := os.WriteFile(r.file, []byte(strings.Repeat("a", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("sessions: {ttl: 1h, secrets: [\"file:session.secret\"]}\nservers: [{name: a, http: {url: 'http://u'}}]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	r.a = &App{cfg: cfg, now: func() time.Time { return r.now }}
	r.a.defaults()
	if r.keyring, err = r.a.sessionKeyring(); err != nil {
		t.Fatal(err)
	}
	return r
}

// rotate writes 32 times c as the secret and refreshes the secrets.
func (r *secretRotation) rotate(c byte) {
	_ = os.WriteFile(r.file, []byte(strings.Repeat(string(c), 32)), 0o600)
	r.a.secrets.RefreshNow(context.Background())
}
