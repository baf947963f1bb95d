package resourceserver

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpfort/mcpfort/internal/jsonx"
)

func TestClaimValues(t *testing.T) {
	obj := []byte(`{"groups":["admins","dev"],"roles":"ops","n":42,"ok":true,"nil":null,"obj":{"x":1},
		"realm_access":{"roles":["realm-admin"],"deep":{"er":["x"]}},"https://example.com/roles":["ns-admin"],
		"a.b":"exact","a":{"b":"nested"},"mixed":["s",1,false,{"o":1},["n"],null],"empty":[]}`)
	tests := []struct {
		name string
		want []string
		ok   bool
	}{
		{"groups", []string{"admins", "dev"}, true},
		{"roles", []string{"ops"}, true},
		{"n", []string{"42"}, true},
		{"ok", []string{"true"}, true},
		{"nil", nil, false},
		{"obj", nil, false},
		{"missing", nil, false},
		{"realm_access.roles", []string{"realm-admin"}, true},
		{"realm_access.deep.er", []string{"x"}, true},
		{"realm_access.missing", nil, false},
		{"https://example.com/roles", []string{"ns-admin"}, true},
		{"a.b", []string{"exact"}, true}, // the exact member wins
		{"mixed", []string{"s", "1", "false"}, true},
		{"empty", nil, false},
		{"", nil, false},
		{".", nil, false},
		{"groups.", nil, false},
	}
	for _, tt := range tests {
		got, ok := ClaimValues(obj, tt.name)
		if ok != tt.ok || !cmp.Equal(got, tt.want) {
			t.Errorf("ClaimValues(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestVerifierGroupsAndClaims: the groups claim (default and configured,
// nested included) and the configured claims reach the Principal, from a
// JWT and from an introspection response.
func TestVerifierGroupsAndClaims(t *testing.T) {
	ti := newTestIssuer(t, "")
	clk := newClock()
	claims := ti.claims(clk.Now(), testAud)
	claims["groups"] = []string{"admins"}
	claims["cognito:groups"] = []string{"cog"}
	claims["realm_access"] = map[string]any{"roles": []string{"kc-admin"}}
	claims["dept"] = "eng"
	tok := sign(t, ti.key("es"), claims, nil)
	for _, tt := range []struct {
		groupsClaim string
		names       []string
		groups      []string
		claims      map[string][]string
	}{
		{"", nil, []string{"admins"}, nil},
		{"cognito:groups", []string{"dept", "absent"}, []string{"cog"}, map[string][]string{"dept": {"eng"}}},
		{"realm_access.roles", []string{"realm_access.roles"}, []string{"kc-admin"}, map[string][]string{"realm_access.roles": {"kc-admin"}}},
		{"roles", nil, nil, nil},
	} {
		v := newTestJWTVerifier(t, ti, clk, testAud, func(o *JWTOptions) { o.GroupsClaim, o.Claims = tt.groupsClaim, tt.names })
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(p.Groups, tt.groups) || !cmp.Equal(p.Claims, tt.claims) {
			t.Errorf("groups claim %q: groups %q claims %q, want %q %q", tt.groupsClaim, p.Groups, p.Claims, tt.groups, tt.claims)
		}
	}

	as := newIntrospectionAS(t, "rs", "secret")
	now := clk.Now().Unix()
	as.answers["opaque"] = fmt.Sprintf(`{"active":true,"sub":"u1","aud":%q,"exp":%d,"roles":["r1","r2"],"dept":"eng"}`, testAud, now+300)
	iv, err := NewIntrospectionVerifier(IntrospectionOptions{Endpoint: as.srv.URL, ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{testAud}, Now: clk.Now, GroupsClaim: "roles", Claims: []string{"dept"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := iv.Verify(context.Background(), "opaque")
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(p.Groups, []string{"r1", "r2"}) || !cmp.Equal(p.Claims, map[string][]string{"dept": {"eng"}}) {
		t.Errorf("introspection: groups %q claims %q", p.Groups, p.Claims)
	}
}

func FuzzClaimValues(f *testing.F) {
	f.Add([]byte(`{"groups":["a","b"],"realm_access":{"roles":["x"]}}`), "realm_access.roles")
	f.Add([]byte(`{"a.b":1,"a":{"b":[true,"s",{"x":1}]}}`), "a.b")
	f.Add([]byte(`{"g":"`+strings.Repeat("x", 2000)+`"}`), "g")
	f.Add([]byte(`{"..":{"":{"":1}}}`), "...")
	f.Fuzz(func(t *testing.T, obj []byte, name string) {
		if _, err := jsonx.ObjectMembers(obj, maxClaimsDepth); err != nil {
			return // the verifier only ever passes validated claim sets
		}
		vs, ok := ClaimValues(obj, name)
		if ok != (len(vs) > 0) || len(vs) > maxClaimValues {
			t.Fatalf("ClaimValues(%s, %q) = %q, %v", obj, name, vs, ok)
		}
		for _, v := range vs {
			if len(v) > maxClaimValueLen+2 {
				t.Fatalf("value of %d bytes", len(v))
			}
		}
	})
}
