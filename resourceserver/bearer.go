package resourceserver

import (
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxTokenBytes bounds the Authorization header the middleware reads
// and the tokens the verifiers parse. Real access tokens are well under
// 4 KiB; the bound keeps hostile headers from costing more than a copy.
const DefaultMaxTokenBytes = 8 << 10

// ParseAuthorization parses one Authorization header value (RFC 9110 §11.6.2)
// and returns the RFC 6750 §2.1 bearer token it carries:
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The scheme is case-insensitive (RFC 9110 §11.1). bearer is false, with a
// nil error, when the value uses another scheme (Basic, DPoP...): RFC 6750
// §3.1 treats an unsupported authentication method like missing credentials.
// A Bearer value that is not exactly one b64token is an invalid_request.
func ParseAuthorization(value string) (token string, bearer bool, err error) {
	scheme, rest, _ := strings.Cut(value, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", true, invalidRequest("the Bearer authorization header carries no token")
	}
	if !isB64Token(rest) {
		return "", true, invalidRequest("the Bearer authorization header is malformed")
	}
	return rest, true, nil
}

// b64tokenChars[c] is 1 for the RFC 6750 §2.1 b64token characters other
// than '=' (ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"). Every
// request's token is scanned; one table load per byte (no bounds check, a
// byte indexes 256 entries) is several times cheaper than a chain of
// ranges, and a constant string cannot be modified.
const b64tokenChars = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00" +
	"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x01" +
	"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x01\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

func isB64TokenChar(c byte) bool { return b64tokenChars[c] != 0 }

// isB64Token reports whether s matches the RFC 6750 §2.1 b64token rule:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && b64tokenChars[s[i]] != 0 {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// BearerToken returns the bearer token of r. It returns an *[Error]:
//
//   - with an empty code (401, no error attribute) when r has no bearer
//     credentials;
//   - invalid_request (400) when the token is in the query string (the MCP
//     authorization specification: access tokens MUST NOT be in the URI
//     query string; RFC 6750 §2.3 is the method refused), when there is more
//     than one Authorization header, when the header is longer than maxBytes
//     (zero means [DefaultMaxTokenBytes]) or when it is malformed.
//
// Only the Authorization header method (RFC 6750 §2.1) is supported; a form
// body parameter (§2.2) is never read, so such a request has no credentials.
func BearerToken(r *http.Request, maxBytes int) (string, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTokenBytes
	}
	if r.URL != nil && r.URL.RawQuery != "" && queryHasAccessToken(r.URL.RawQuery) {
		return "", invalidRequest("access tokens must not be sent in the query string")
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", &Error{Description: "a bearer access token is required"}
	case 1:
	default:
		return "", invalidRequest("more than one Authorization header")
	}
	// The prefix "Bearer " is not counted, so maxBytes bounds the token.
	if len(values[0]) > maxBytes+len("Bearer ") {
		return "", invalidRequest("the Authorization header is too large")
	}
	tok, bearer, err := ParseAuthorization(values[0])
	if err != nil {
		return "", err
	}
	if !bearer {
		return "", &Error{Description: "a bearer access token is required"}
	}
	return tok, nil
}

// queryHasAccessToken reports whether the query names the RFC 6750 §2.3
// access_token parameter, in any percent-encoding.
func queryHasAccessToken(raw string) bool {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(kv, "=")
		if k == "access_token" {
			return true
		}
		if strings.ContainsAny(k, "%+") {
			if u, err := url.QueryUnescape(k); err == nil && u == "access_token" {
				return true
			}
		}
	}
	return false
}
