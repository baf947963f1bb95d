package oauth

import (
	"fmt"
	"strings"
)

// Limits on scope strings from untrusted peers. A scope parameter longer
// than this is an attack or a bug, not a real client.
const (
	MaxScopeLength = 2048
	MaxScopes      = 64
)

// ParseScope splits a scope parameter into its scope tokens (RFC 6749
// section 3.3):
//
//	scope       = scope-token *( SP scope-token )
//	scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
//
// Tokens are case-sensitive; duplicates are dropped keeping the first
// occurrence. Runs of spaces are tolerated (some clients join with a
// trailing space); any other character outside NQCHAR is an invalid_scope
// error. The empty string yields no scopes.
func ParseScope(s string) ([]string, error) {
	if len(s) > MaxScopeLength {
		return nil, NewError(InvalidScope, "scope too long")
	}
	var out []string
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
				return nil, NewError(InvalidScope, fmt.Sprintf("scope contains an invalid character at byte %d", i))
			}
		}
		if !contains(out, tok) {
			if len(out) == MaxScopes {
				return nil, NewError(InvalidScope, "too many scopes")
			}
			out = append(out, tok)
		}
	}
	return out, nil
}

// FormatScope joins scope tokens with single spaces.
func FormatScope(scopes []string) string { return strings.Join(scopes, " ") }

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
