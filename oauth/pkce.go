package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"

	"github.com/mcpfort/mcpfort/internal/base64url"
)

// CodeChallengeMethodS256 is the only PKCE method mcpfort accepts (OAuth 2.1
// section 4.1.1: "plain" must not be used when S256 is possible).
const CodeChallengeMethodS256 = "S256"

// ValidCodeVerifier reports whether v is a well-formed RFC 7636 section 4.1
// code_verifier:
//
//	code-verifier = 43*128unreserved
//	unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
func ValidCodeVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isUnreserved(v[i]) {
			return false
		}
	}
	return true
}

// ValidCodeChallenge reports whether c can be an S256 code_challenge: the
// unpadded base64url encoding of a SHA-256 digest is exactly 43 characters
// of the base64url alphabet (RFC 7636 section 4.2).
func ValidCodeChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	b, err := base64url.Decode(c)
	return err == nil && len(b) == sha256.Size
}

// S256Challenge returns BASE64URL-ENCODE(SHA256(ASCII(verifier))) (RFC 7636
// section 4.2).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyS256 reports, in constant time, whether verifier matches the S256
// challenge (RFC 7636 section 4.6).
func VerifyS256(verifier, challenge string) bool {
	if !ValidCodeVerifier(verifier) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(S256Challenge(verifier)), []byte(challenge)) == 1
}

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
