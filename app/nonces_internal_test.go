package app

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth/dpop"
)

// TestRouteNoncesFollowRotation rotates a file-held session secret while
// a route's DPoP nonces serve: from the refresh on, nonces are sealed with
// the new value; one issued before still passes while the keyring keeps
// the old value, and no longer once it drops it.
func TestRouteNoncesFollowRotation(t *testing.T) {
	r := newSecretRotation(t)
	a := r.a
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
	r.rotate('b')
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
	r.now = r.now.Add(2 * time.Hour)
	r.rotate('c')
	if n.Check(before) == nil {
		t.Fatal("a nonce of a value the keyring dropped is accepted")
	}
	if err := n.Check(after); err != nil {
		t.Fatalf("a nonce of the previous value: %v", err)
	}
}
