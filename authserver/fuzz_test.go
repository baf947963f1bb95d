package authserver

import (
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
)

func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:5/cb", "https://a.example/cb?x=1", "http://[::1]/x", "javascript:alert(1)",
		"http://localhost:0/", "https://a.example/cb#f", "HTTP://127.0.0.1/cb", "http://127.0.0.1:99999999999/cb"} {
		f.Add(s, "http://127.0.0.1/cb")
	}
	f.Fuzz(func(t *testing.T, requested, registered string) {
		u, err := parseRedirectURI(requested)
		if err == nil {
			if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackRedirectHost(u.Hostname())) {
				t.Fatalf("accepted %q", requested)
			}
			if u.Fragment != "" {
				t.Fatalf("accepted a fragment: %q", requested)
			}
		}
		if matchRedirectURI([]string{registered}, requested) && requested != registered {
			// Only the loopback port may differ.
			ru, err1 := url.Parse(registered)
			qu, err2 := url.Parse(requested)
			if err1 != nil || err2 != nil || ru.Hostname() != qu.Hostname() || ru.EscapedPath() != qu.EscapedPath() ||
				ru.RawQuery != qu.RawQuery || !isLoopbackRedirectHost(qu.Hostname()) || !strings.HasPrefix(requested, "http://") {
				t.Fatalf("%q matched registration %q", requested, registered)
			}
		}
	})
}

func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "resource=x&resource=y", "a=1&a=2", "%zz", "a;b", strings.Repeat("x=1&", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := parseParams(s)
		if err != nil {
			if oauth.CodeOf(err) != oauth.InvalidRequest {
				t.Fatalf("code %s", oauth.CodeOf(err))
			}
			return
		}
		for k, v := range fm {
			if len(v) > 1 && !repeatable[k] {
				t.Fatalf("repeated %q accepted", k)
			}
		}
	})
}

func FuzzClientAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjIn0.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJjIn0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		sub, err := unverifiedSubject(s)
		if err == nil && sub == "" {
			t.Fatal("empty subject accepted")
		}
	})
}

func FuzzDecodeClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"a","aud":["x"],"exp":1}`))
	f.Add([]byte(`{"sub":"a","SUB":"b"}`))
	f.Add([]byte(`{"aud":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c accessClaims
		_ = decodeClaims(b, &c)
		var a assertionClaims
		_ = decodeClaims(b, &a)
	})
}

func FuzzResourceKey(f *testing.F) {
	for _, s := range []string{"https://mcp.example.com/mcp", "HTTPS://MCP.example.com/mcp/", "urn:x", "https://a/#f", "//a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := resourceKey(s)
		if err != nil {
			return
		}
		// Normalization is idempotent.
		if k2, err := resourceKey(k); err != nil || k2 != k {
			t.Fatalf("%q -> %q -> %q (%v)", s, k, k2, err)
		}
	})
}

func FuzzVerifyPasswordHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("$argon2i$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		// Must never panic or accept out-of-bounds parameters (which
		// would turn a sign-in into a memory bomb).
		ok, err := VerifyPassword(hash, pw)
		if ok && err != nil {
			t.Fatal("match with an error")
		}
	})
}

func FuzzUnseal(f *testing.F) {
	kek := make([]byte, 32)
	rand.Read(kek)
	dk, _ := deriveKeyring(kek, nil)
	s := &Server{now: time.Now}
	s.kek.Store(dk)
	good, _ := s.seal(purposeRequest, time.Minute, authzRequest{ClientID: "c"})
	f.Add(good)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		var r authzRequest
		if err := s.unseal(purposeRequest, tok, &r); err == nil && tok != good {
			t.Fatalf("forged sealed value accepted: %q", tok)
		}
		var sess session
		if s.unseal(purposeSession, tok, &sess) == nil {
			t.Fatal("request accepted as a session")
		}
	})
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	if ok, err := VerifyPassword(h, "s3cret"); !ok || err != nil {
		t.Errorf("verify: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword(h, "S3cret"); ok {
		t.Error("wrong password accepted")
	}
	h2, _ := HashPassword("s3cret")
	if h == h2 {
		t.Error("salt not random")
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("empty password hashed")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$2a$10$abc", "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := VerifyPassword(bad, "x"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}
