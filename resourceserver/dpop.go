package resourceserver

import (
	"slices"
	"strings"

	"github.com/mcpfort/mcpfort/oauth/dpop"
)

// DefaultDPoPAlgorithms are the proof algorithms a resource server accepts
// when [DPoPOptions.Algorithms] is nil.
var DefaultDPoPAlgorithms = dpop.DefaultAlgorithms

// dpopAlgsString is the algs attribute of a DPoP challenge (RFC 9449
// section 7.1).
func dpopAlgsString(algs []string) string {
	if algs == nil {
		algs = dpop.DefaultAlgorithms
	}
	return strings.Join(slices.DeleteFunc(slices.Clone(algs), func(a string) bool {
		return a == "none" || strings.HasPrefix(a, "HS") || strings.ContainsAny(a, "\" \\")
	}), " ")
}

// ParseDPoPAuthorization returns the token of an "Authorization: DPoP
// <token>" value (RFC 9449 section 7.1; the scheme is case-insensitive).
// dpop is false when the value uses another scheme.
func ParseDPoPAuthorization(value string) (token string, dpop bool, err error) {
	scheme, rest, _ := strings.Cut(value, " ")
	if !strings.EqualFold(scheme, "DPoP") {
		return "", false, nil
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" || !isB64Token(rest) {
		return "", true, invalidRequest("the DPoP authorization header is malformed")
	}
	return rest, true, nil
}
