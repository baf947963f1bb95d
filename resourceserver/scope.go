package resourceserver

import (
	"errors"
	"fmt"
	"strings"
)

// ScopeSeparator separates the levels of a hierarchical scope.
const ScopeSeparator = ':'

// ParseScope splits an OAuth scope string (RFC 6749 §3.3):
//
//	scope       = scope-token *( SP scope-token )
//	scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
//
// Runs of spaces are tolerated (some issuers emit them) and duplicates are
// dropped, keeping the first occurrence; any other character outside the
// scope-token set is an error, so a scope can never smuggle a quote or a
// backslash into a WWW-Authenticate challenge.
func ParseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		if !validScopeToken(tok) {
			return nil, errors.New("scope contains a character outside RFC 6749 scope-token")
		}
		if !contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, nil
}

// validScopeToken reports whether s is an RFC 6749 §3.3 scope-token.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// checkScopes validates operator-supplied scopes.
func checkScopes(field string, scopes []string) error {
	for _, s := range scopes {
		if !validScopeToken(s) {
			return fmt.Errorf("%s: %q is not an RFC 6749 scope-token", field, s)
		}
	}
	return nil
}

// Satisfies reports whether the granted scope covers the required one.
//
// The rule (the MCP authorization specification, "Scope Challenge
// Handling", says servers MUST account for scope hierarchies, without fixing
// one): scopes are hierarchical on ':'. A granted scope satisfies a required
// scope when they are equal, or when the granted scope is a proper prefix of
// the required one ending at a ':' boundary. So "mcp:tools" satisfies
// "mcp:tools:read" and "mcp:tools:read:files", "mcp" satisfies "mcp:tools",
// but "mcp:tools" does not satisfy "mcp:tools-basic", "mcp:toolsx" or "mcp",
// and nothing is a wildcard. Comparison is case-sensitive (RFC 6749 §3.3).
//
// Scopes that are URIs ("https://example.com/read") also contain ':', so a
// granted scope "https" would satisfy them: do not issue single-segment
// scopes that collide with URI schemes.
func Satisfies(granted, required string) bool {
	if granted == required {
		return granted != ""
	}
	return len(granted) > 0 && len(required) > len(granted) &&
		required[len(granted)] == ScopeSeparator && strings.HasPrefix(required, granted)
}

// SatisfiedBy reports whether any of the granted scopes satisfies required.
func SatisfiedBy(granted []string, required string) bool {
	for _, g := range granted {
		if Satisfies(g, required) {
			return true
		}
	}
	return false
}

// MissingScopes returns the required scopes that no granted scope satisfies,
// in the order given, without duplicates; nil when the grant suffices. An
// insufficient_scope challenge should list all the scopes the operation
// needs (see [Error.Scopes]), not only the missing ones; this tells whether
// to send it.
func MissingScopes(granted, required []string) []string {
	var missing []string
	for _, r := range required {
		if !SatisfiedBy(granted, r) && !contains(missing, r) {
			missing = append(missing, r)
		}
	}
	return missing
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
