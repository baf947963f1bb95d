package authserver

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSetClientSecret rotates an operator-registered client's secret at
// run time: the new secret authenticates at once, the old one no longer
// does, and clients without a secret or unknown ids are refused.
func TestSetClientSecret(t *testing.T) {
	e := newEnv(t, nil)
	cc := func(secret string) int {
		return e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "resource": {resMCP}}, basic: [2]string{confClient, secret}}).status
	}
	if got := cc(confSecret); got != http.StatusOK {
		t.Fatalf("configured secret: %d", got)
	}
	rotated := "rotated-secret-rotated-secret-rotated"
	if err := e.srv.SetClientSecret(confClient, rotated); err != nil {
		t.Fatal(err)
	}
	if got := cc(rotated); got != http.StatusOK {
		t.Fatalf("rotated secret: %d", got)
	}
	if got := cc(confSecret); got != http.StatusUnauthorized {
		t.Fatalf("old secret after rotation: %d", got)
	}
	for _, bad := range []struct{ id, secret string }{{confClient, "short"}, {publicClient, rotated}, {"nobody", rotated}} {
		if err := e.srv.SetClientSecret(bad.id, bad.secret); err == nil {
			t.Errorf("SetClientSecret(%q) accepted", bad.id)
		}
	}
	if got := cc(rotated); got != http.StatusOK {
		t.Fatalf("a refused SetClientSecret changed the secret: %d", got)
	}
}
