package resourceserver

import (
	"bytes"
	"strings"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// DefaultGroupsClaim is the claim a verifier reads the user's groups from
// unless configured otherwise: the name the embedded authorization server,
// Keycloak's group mapper and Okta use ("groups" is also registered in the
// IANA JWT Claims registry, RFC 9068 §2.2.3.1 via RFC 7643 §4.1.2).
const DefaultGroupsClaim = "groups"

// Bounds on what a token can make a verifier copy: a claim holding more
// values is cut, a longer value is left out.
const (
	maxClaimValues   = 256
	maxClaimValueLen = 1024
)

// claimSpec says which claims beyond RFC 9068's a verifier copies into the
// Principal.
type claimSpec struct {
	groups string   // the groups claim; never empty
	names  []string // further claims
}

func newClaimSpec(groups string, names []string) claimSpec {
	if groups == "" {
		groups = DefaultGroupsClaim
	}
	return claimSpec{groups: groups, names: append([]string(nil), names...)}
}

// extract reads the groups and the named claims from a claim set (a JWT
// payload or an introspection response) that parseClaims has validated.
// A claim that is absent or holds no string, number or boolean gives
// nothing: a rule that asks for it then fails, which is the safe side.
func (s claimSpec) extract(raw []byte) (groups []string, claims map[string][]string) {
	if len(raw) == 0 {
		return nil, nil
	}
	groups, _ = ClaimValues(raw, s.groups)
	for _, n := range s.names {
		if vs, ok := ClaimValues(raw, n); ok {
			if claims == nil {
				claims = make(map[string][]string, len(s.names))
			}
			claims[n] = vs
		}
	}
	return groups, claims
}

// ClaimValues returns the values of the claim name in the claim set obj (a
// validated JSON object): a string as itself, a number or a boolean as its
// JSON text, an array as the values of its elements of those types. A
// member named exactly name is taken first; otherwise a name with dots
// reaches into nested objects, so "realm_access.roles" is Keycloak's realm
// roles while an Auth0 namespaced claim such as
// "https://example.com/roles" still matches its own member. ok is false
// when the claim is absent or holds none of these types.
func ClaimValues(obj []byte, name string) (values []string, ok bool) {
	v, found := lookupClaim(obj, name)
	if !found {
		return nil, false
	}
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '[' {
		_ = jsonx.WalkArray(v, func(elem []byte) bool {
			if s, ok := scalarText(elem); ok {
				values = append(values, s)
			}
			return len(values) < maxClaimValues
		})
		return values, values != nil
	}
	s, ok := scalarText(v)
	if !ok {
		return nil, false
	}
	return []string{s}, true
}

func lookupClaim(obj []byte, name string) ([]byte, bool) {
	if !jsonx.IsObject(obj) || name == "" {
		return nil, false
	}
	if v, ok := jsonx.Get(obj, name); ok {
		return v, true
	}
	for i := strings.IndexByte(name, '.'); i >= 0; {
		if v, ok := jsonx.Get(obj, name[:i]); ok && jsonx.IsObject(v) {
			if r, ok := lookupClaim(v, name[i+1:]); ok {
				return r, true
			}
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil, false
}

// scalarText returns a string's value, or a number's or boolean's JSON
// text.
func scalarText(v []byte) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || len(v) > maxClaimValueLen+2 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		return jsonx.String(v)
	case c == 't' || c == 'f':
		return string(v), string(v) == "true" || string(v) == "false"
	case c == '-' || (c >= '0' && c <= '9'):
		return string(v), true
	}
	return "", false
}
