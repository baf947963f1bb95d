package app

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway/session"
)

func TestForwardingMark(t *testing.T) {
	oldS, newS := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	now := time.Unix(1_800_000_000, 0)
	mk := func(secrets ...[]byte) *forwarder {
		kr, err := session.NewKeyring(secrets...)
		if err != nil {
			t.Fatal(err)
		}
		f, err := newForwarder("http://10.0.0.1:8080", kr, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		f.now = func() time.Time { return now }
		return f
	}
	a, rotated, stranger := mk(oldS), mk(newS, oldS), mk([]byte(strings.Repeat("x", 32)))
	check := func(by *forwarder, mark, method, path, sid string) bool {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set(headerForwarded, mark)
		r.Header.Set("Mcp-Session-Id", sid)
		return by.forwarded(r)
	}
	req := func(mark, method, path, sid string) bool { return check(rotated, mark, method, path, sid) }
	m := a.mark("POST", "/mcp", "sid-1")
	if !req(m, "POST", "/mcp", "sid-1") {
		t.Fatal("a replica's mark is refused by a replica that rotated its secrets")
	}
	for name, ok := range map[string]bool{
		"another method":  req(m, "GET", "/mcp", "sid-1"),
		"another path":    req(m, "POST", "/other", "sid-1"),
		"another session": req(m, "POST", "/mcp", "sid-2"),
		"another secret":  req(stranger.mark("POST", "/mcp", "sid-1"), "POST", "/mcp", "sid-1"),
		"garbage":         req("1.AAAA", "POST", "/mcp", "sid-1"),
		"no dot":          req("abc", "POST", "/mcp", "sid-1"),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
	// Secrets rotated while the replicas run (Keyring.Replace): marks
	// follow at once, in both directions.
	if check(a, rotated.mark("POST", "/mcp", "sid-1"), "POST", "/mcp", "sid-1") {
		t.Fatal("a mark with a secret this replica does not have was accepted")
	}
	if err := a.keyring.Replace(newS, oldS); err != nil {
		t.Fatal(err)
	}
	if !check(a, rotated.mark("POST", "/mcp", "sid-1"), "POST", "/mcp", "sid-1") {
		t.Error("after the rotation, a mark with the new secret is refused")
	}
	if err := rotated.keyring.Replace(newS); err != nil {
		t.Fatal(err)
	}
	if req(m, "POST", "/mcp", "sid-1") {
		t.Error("a mark with a secret dropped from the keyring is still accepted")
	}
	if err := rotated.keyring.Replace(newS, oldS); err != nil {
		t.Fatal(err)
	}
	now = now.Add(forwardSkew + time.Second)
	if req(m, "POST", "/mcp", "sid-1") {
		t.Error("a stale mark was accepted")
	}
}

// TestPeekReplaysBody: the forwarder reads at most maxPeek bytes of a
// body to find where it goes, and whoever serves the request reads the
// body whole and unchanged, larger ones included.
func TestPeekReplaysBody(t *testing.T) {
	for _, n := range []int{0, 10, maxPeek, maxPeek + 1, 3 * maxPeek} {
		body := strings.Repeat("x", n)
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
		r.ContentLength = -1 // as with chunked encoding: only the read bounds it
		buf, ok := peek(r)
		if ok != (n <= maxPeek) || (ok && string(buf) != body) {
			t.Errorf("%d bytes: peeked %d bytes, ok %v", n, len(buf), ok)
		}
		if n > 0 && len(buf) > maxPeek+1 {
			t.Errorf("%d bytes: read %d bytes ahead", n, len(buf))
		}
		rest, err := io.ReadAll(r.Body)
		if err != nil || string(rest) != body {
			t.Errorf("%d bytes: the handler read %d bytes (%v)", n, len(rest), err)
		}
	}
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader("{}"))
	r.ContentLength = maxPeek + 1
	if _, ok := peek(r); ok {
		t.Error("a body declared larger than maxPeek was read")
	}
}
