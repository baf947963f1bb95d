package authserver

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mcpfort/mcpfort/authserver/cimd"
	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// assertionAlgs are the JWS algorithms accepted on client assertions: the
// asymmetric ones only ("none" and HMAC would let anyone who knows the
// public data forge an assertion; RFC 8725 section 3.1).
var assertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// maxAssertionLifetime bounds how far in the future a client assertion
// may expire, which bounds how long its jti must be remembered.
const maxAssertionLifetime = 10 * time.Minute

// authenticateClient authenticates the client of a token, introspection
// or revocation request (RFC 6749 section 2.3; OAuth 2.1 section 2.4):
// client_secret_basic, client_secret_post, private_key_jwt (RFC 7523
// section 2.2) or, for public clients, client_id alone. A request that
// uses more than one method is invalid_request ("The client MUST NOT use
// more than one authentication method in each request", RFC 6749 section
// 2.3). Any failure is invalid_client, with no hint of which part failed.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, f form) (*client, error) {
	var (
		methods   []string
		id        string
		secret    string
		assertion string
	)
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, oauth.NewError(oauth.InvalidClient, "unsupported authorization scheme")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return nil, oauth.NewError(oauth.InvalidClient, "malformed basic credentials")
		}
		u, p, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, oauth.NewError(oauth.InvalidClient, "malformed basic credentials")
		}
		// RFC 6749 section 2.3.1: both parts are form-urlencoded first.
		if id, err = url.QueryUnescape(u); err != nil {
			return nil, oauth.NewError(oauth.InvalidClient, "malformed basic credentials")
		}
		if secret, err = url.QueryUnescape(p); err != nil {
			return nil, oauth.NewError(oauth.InvalidClient, "malformed basic credentials")
		}
		if secret == "" {
			// Some libraries send public clients as Basic with an empty
			// password (golang.org/x/oauth2's auto-detection does); that
			// is client_id alone, authentication method "none".
			methods = append(methods, oauth.AuthNone)
		} else {
			methods = append(methods, oauth.AuthClientSecretBasic)
		}
		if fid := f.get("client_id"); fid != "" && fid != id {
			return nil, oauth.NewError(oauth.InvalidRequest, "client_id does not match the authorization header")
		}
	}
	if f.get("client_secret") != "" {
		methods = append(methods, oauth.AuthClientSecretPost)
		id, secret = f.get("client_id"), f.get("client_secret")
	}
	if at := f.get("client_assertion_type"); at != "" || f.get("client_assertion") != "" {
		if at != oauth.ClientAssertionTypeJWTBearer {
			return nil, oauth.NewError(oauth.InvalidClient, "unsupported client_assertion_type")
		}
		assertion = f.get("client_assertion")
		if assertion == "" {
			return nil, oauth.NewError(oauth.InvalidRequest, "client_assertion is missing")
		}
		methods = append(methods, oauth.AuthPrivateKeyJWT)
		sub, err := unverifiedSubject(assertion)
		if err != nil {
			return nil, oauth.Wrap(oauth.InvalidClient, "malformed client assertion", err)
		}
		if fid := f.get("client_id"); fid != "" && fid != sub {
			return nil, oauth.NewError(oauth.InvalidClient, "client_id does not match the client assertion")
		}
		id = sub
	}
	switch len(methods) {
	case 0:
		id = f.get("client_id")
		if id == "" {
			return nil, oauth.NewError(oauth.InvalidClient, "client authentication is required")
		}
		methods = append(methods, oauth.AuthNone)
	case 1:
	default:
		return nil, oauth.NewError(oauth.InvalidRequest, "more than one client authentication method used")
	}
	c, err := s.lookupClient(ctx, id)
	if err != nil {
		var ce *cimd.Error
		switch {
		case errors.Is(err, errUnknownClient):
			return nil, oauth.Wrap(oauth.InvalidClient, "client authentication failed", err)
		case errors.As(err, &ce):
			return nil, oauth.Wrap(oauth.InvalidClient, ce.Reason, err)
		}
		return nil, oauth.Wrap(oauth.ServerError, "client lookup failed", err)
	}
	if methods[0] != c.authMethod {
		return nil, oauth.Wrap(oauth.InvalidClient, "client authentication failed",
			fmt.Errorf("client %s registered %s, used %s", c.id, c.authMethod, methods[0]))
	}
	switch methods[0] {
	case oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost:
		if !secretMatches(c.currentSecretHash(), secret) {
			return nil, oauth.Wrap(oauth.InvalidClient, "client authentication failed", errors.New("wrong client secret"))
		}
		if !c.secretExpiresAt.IsZero() && !s.now().Before(c.secretExpiresAt) {
			return nil, oauth.NewError(oauth.InvalidClient, "client secret expired")
		}
	case oauth.AuthPrivateKeyJWT:
		if err := s.verifyClientAssertion(ctx, c, assertion); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// secretMatches compares the digest of the presented secret with the
// stored digest in constant time.
func secretMatches(storedHash []byte, secret string) bool {
	if len(storedHash) == 0 || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare(storedHash, hashSecret(secret)) == 1
}

// unverifiedSubject reads "sub" from an assertion before its key is known
// (RFC 7523 section 3: sub is the client_id). The signature is verified
// afterwards with that client's keys.
func unverifiedSubject(assertion string) (string, error) {
	if len(assertion) > 8192 {
		return "", errors.New("assertion too large")
	}
	if err := base64url.CompactJWS(assertion); err != nil {
		return "", err
	}
	jws, err := jose.ParseSignedCompact(assertion, assertionAlgs)
	if err != nil {
		return "", err
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := decodeClaims(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return "", err
	}
	if claims.Sub == "" {
		return "", errors.New("assertion has no sub")
	}
	return claims.Sub, nil
}

// assertionClaims are the RFC 7523 section 3 claims of a client assertion.
type assertionClaims struct {
	Iss string         `json:"iss"`
	Sub string         `json:"sub"`
	Aud oauth.Audience `json:"aud"`
	Exp *int64         `json:"exp"`
	Nbf *int64         `json:"nbf"`
	Iat *int64         `json:"iat"`
	Jti string         `json:"jti"`
}

// verifyClientAssertion checks a private_key_jwt assertion (RFC 7523
// section 3): signed by a key of the client, iss and sub equal to the
// client_id, aud naming this server (its issuer or token endpoint), not
// expired, not issued for the future, expiring within
// maxAssertionLifetime, and its jti never seen before.
func (s *Server) verifyClientAssertion(ctx context.Context, c *client, assertion string) error {
	fail := func(desc string, cause error) error { return oauth.Wrap(oauth.InvalidClient, desc, cause) }
	set, err := s.clientKeys(ctx, c)
	if err != nil {
		return fail("client keys unavailable", err)
	}
	if err := base64url.CompactJWS(assertion); err != nil {
		return fail("malformed client assertion", err)
	}
	jws, err := jose.ParseSignedCompact(assertion, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return fail("malformed client assertion", err)
	}
	hdr := jws.Signatures[0].Protected
	var payload []byte
	verified := false
	for _, k := range set.Keys {
		if hdr.KeyID != "" && k.KeyID != hdr.KeyID {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
			continue
		}
		if p, err := jws.Verify(k.Key); err == nil {
			payload, verified = p, true
			break
		}
	}
	if !verified {
		return fail("client assertion signature invalid", nil)
	}
	var cl assertionClaims
	if err := decodeClaims(payload, &cl); err != nil {
		return fail("malformed client assertion claims", err)
	}
	now := s.now()
	switch {
	case cl.Iss != c.id || cl.Sub != c.id:
		return fail("client assertion iss and sub must be the client_id", nil)
	case !cl.Aud.Contains(s.issuer) && !cl.Aud.Contains(s.origin+s.endpoints.token):
		return fail("client assertion audience must be the issuer or token endpoint", nil)
	case cl.Exp == nil:
		return fail("client assertion has no exp", nil)
	case !now.Before(time.Unix(*cl.Exp, 0)):
		return fail("client assertion expired", nil)
	case time.Unix(*cl.Exp, 0).After(now.Add(maxAssertionLifetime)):
		return fail("client assertion lifetime too long", nil)
	case cl.Nbf != nil && time.Unix(*cl.Nbf, 0).After(now.Add(time.Minute)):
		return fail("client assertion not yet valid", nil)
	case cl.Iat != nil && time.Unix(*cl.Iat, 0).After(now.Add(time.Minute)):
		return fail("client assertion issued in the future", nil)
	case cl.Jti == "" || len(cl.Jti) > 256:
		return fail("client assertion needs a jti", nil)
	}
	err = s.store.UseOnce(ctx, "assertion|"+c.id+"|"+cl.Jti, time.Unix(*cl.Exp, 0).Add(time.Minute))
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return fail("client assertion replayed", nil)
	}
	if err != nil {
		return oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	return nil
}

// clientKeys returns the client's public keys: the registered jwks, or its
// jwks_uri fetched under the SSRF policy.
func (s *Server) clientKeys(ctx context.Context, c *client) (*jose.JSONWebKeySet, error) {
	raw := []byte(c.meta.JWKS)
	if len(raw) == 0 {
		if c.meta.JWKSURI == "" {
			return nil, errors.New("client has no keys")
		}
		var err error
		if raw, err = s.cimd.FetchJWKS(ctx, c.meta.JWKSURI); err != nil {
			return nil, err
		}
	}
	return parseJWKS(raw)
}

// parseJWKS decodes a client's JWK Set: public asymmetric keys only, at
// most 16.
func parseJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	if err := jsonx.Validate(raw, 8); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, errors.New("not a JWK Set")
	}
	if len(set.Keys) == 0 || len(set.Keys) > 16 {
		return nil, errors.New("a JWK Set needs between 1 and 16 keys")
	}
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, errors.New("keys must be valid public asymmetric keys")
		}
		if _, ok := k.Key.([]byte); ok {
			return nil, errors.New("symmetric keys are not allowed")
		}
	}
	return &set, nil
}

// claimNames are the JWT claims the server reads. encoding/json matches
// member names case-insensitively, so a member that differs from one of
// these only in case would be read as it: such claim sets are refused.
var claimNames = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "scope": true,
	"client_id": true, "act": true, "auth_time": true, "nonce": true, "azp": true, "email": true, "name": true,
	"email_verified": true, "preferred_username": true,
}

// decodeClaims decodes a JWT claims set through the JSON chokepoint
// (strict UTF-8, no duplicate members, bounded depth) and with exact
// member-name matching, so a claim cannot read differently here and in
// another JWT library.
func decodeClaims(payload []byte, v any) error {
	members, err := jsonx.ObjectMembers(payload, 16)
	if err != nil {
		return errors.New("claims are not a valid JSON object")
	}
	for _, m := range members {
		if l := strings.ToLower(m.Key); l != m.Key && claimNames[l] {
			return fmt.Errorf("claim %q differs from %q only in case", m.Key, l)
		}
	}
	return json.Unmarshal(payload, v)
}
