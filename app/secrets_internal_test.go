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
	dir := t.TempDir()
	p := filepath.Join(dir, "session.secret")
	os.WriteFile(p, []byte(strings.Repeat("a", 32)), 0o600)
	cfg, err := config.Parse([]byte("sessions: {ttl: 1h, secrets: [\"file:session.secret\"]}\nservers: [{name: a, http: {url: 'http://u'}}]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	a := &App{cfg: cfg, now: func() time.Time { return now }}
	a.defaults()
	kr, err := a.sessionKeyring()
	if err != nil {
		t.Fatal(err)
	}
	st := &session.State{Route: "a", Expires: now.Add(24 * time.Hour)}
	old, _ := kr.Seal(st)
	os.WriteFile(p, []byte(strings.Repeat("b", 32)), 0o600)
	a.secrets.RefreshNow(context.Background())
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
	os.WriteFile(p, []byte(strings.Repeat("c", 32)), 0o600)
	a.secrets.RefreshNow(context.Background())
	if _, err := kr.Open(old, now.Add(-time.Hour)); err == nil {
		t.Fatal("a session of a value retired longer than sessions.ttl still opens")
	}
	if _, err := kr.Open(fresh, now); err != nil {
		t.Fatalf("a session of the previous value: %v", err)
	}
}
