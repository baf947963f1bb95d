package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/oauth/dpop"
)

// TestRouteNoncesFollowRotation rotates a file-held session secret while
// a route's DPoP nonces serve: from the refresh on, nonces are sealed with
// the new value; one issued before still passes while the keyring keeps
// the old value, and no longer once it drops it.
func TestRouteNoncesFollowRotation(t *testing.T) {
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
	if _, err := a.sessionKeyring(); err != nil {
		t.Fatal(err)
	}
	const resource = "https://gw.example/a"
	n, err := a.routeNonces(resource)
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.routeNonces("https://gw.example/b")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := n.Issue()
	os.WriteFile(p, []byte(strings.Repeat("b", 32)), 0o600)
	a.secrets.RefreshNow(context.Background())
	if err := n.Check(before); err != nil {
		t.Fatalf("a nonce issued before the rotation: %v", err)
	}
	after, _ := n.Issue()
	onlyNew, _ := dpop.NewNonces(dpop.NoncesOptions{Secrets: [][]byte{[]byte(strings.Repeat("b", 32))}, Purpose: resource})
	if err := onlyNew.Check(after); err != nil {
		t.Fatalf("not sealed with the new secret: %v", err)
	}
	if other.Check(after) == nil {
		t.Fatal("a nonce of another route is accepted")
	}
	// Past sessions.ttl, the next rotation drops the first value.
	now = now.Add(2 * time.Hour)
	os.WriteFile(p, []byte(strings.Repeat("c", 32)), 0o600)
	a.secrets.RefreshNow(context.Background())
	if n.Check(before) == nil {
		t.Fatal("a nonce of a value the keyring dropped is accepted")
	}
	if err := n.Check(after); err != nil {
		t.Fatalf("a nonce of the previous value: %v", err)
	}
}
