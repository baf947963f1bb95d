package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
)

// randomToken returns 256 bits of randomness, base64url: codes, refresh
// tokens, secrets, registration tokens. Values this strong are safely
// stored as plain SHA-256 digests (no salt or stretching needed).
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomID returns a 128-bit identifier (jti, family id, client id).
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// accessClaims are the JWT access-token claims of RFC 9068 section 2.2,
// with "act" from RFC 8693 section 4.1.
type accessClaims struct {
	Iss      string         `json:"iss"`
	Sub      string         `json:"sub"`
	Aud      oauth.Audience `json:"aud"`
	Exp      int64          `json:"exp"`
	Iat      int64          `json:"iat"`
	Jti      string         `json:"jti"`
	ClientID string         `json:"client_id"`
	Scope    string         `json:"scope,omitempty"`
	AuthTime int64          `json:"auth_time,omitempty"`
	// Groups of the user (RFC 9068 section 2.2.3.1, after SCIM's
	// "groups"), so resource servers can decide by group.
	Groups []string     `json:"groups,omitempty"`
	Act    *oauth.Actor `json:"act,omitempty"`
	// Sid names the grant (refresh-token family) the token was issued
	// from, as "sid" names a session in OpenID Connect Back-Channel Logout
	// 1.0 section 2.4: revoking the grant revokes every access token
	// issued from it (see Revocation).
	Sid string `json:"sid,omitempty"`
	// Cnf binds the token to a DPoP key (RFC 9449 section 6.1, RFC 7800).
	Cnf *confirmation `json:"cnf,omitempty"`
}

// confirmation is the RFC 7800 "cnf" claim with the RFC 9449 section 6.1
// "jkt" member.
type confirmation struct {
	JKT string `json:"jkt"`
}

// tokenRequest describes the access token to issue.
type tokenRequest struct {
	subject  string
	clientID string
	aud      []*resource
	scopes   []string // granted; narrowed to what the audience understands
	groups   []string // the user's groups
	authTime time.Time
	act      *oauth.Actor
	jti      string    // preassigned when the caller records it first
	grantID  string    // the refresh-token family, if any ("sid")
	notAfter time.Time // cap on expiry (token exchange), zero for none
}

// issueAccessToken signs an RFC 9068 JWT access token ("typ: at+jwt",
// section 2.1) for the request.
func (s *Server) issueAccessToken(ctx context.Context, t tokenRequest) (token string, scope []string, exp time.Time, err error) {
	now := s.now()
	exp = now.Add(s.tokenLifetime(t.aud))
	if !t.notAfter.IsZero() && t.notAfter.Before(exp) {
		exp = t.notAfter
	}
	if t.jti == "" {
		t.jti = randomID()
	}
	scope = tokenScopes(t.scopes, t.aud)
	c := accessClaims{
		Iss: s.issuer, Sub: t.subject, Aud: oauth.Audience(resourceURIs(t.aud)), Exp: exp.Unix(), Iat: now.Unix(),
		Jti: t.jti, ClientID: t.clientID, Scope: oauth.FormatScope(scope), Groups: t.groups, Act: t.act, Sid: t.grantID,
	}
	if !t.authTime.IsZero() {
		c.AuthTime = t.authTime.Unix()
	}
	if jkt := dpopJKT(ctx); jkt != "" {
		c.Cnf = &confirmation{JKT: jkt}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", nil, time.Time{}, err
	}
	token, _, err = s.keys.Sign(ctx, "at+jwt", payload)
	return token, scope, exp, err
}

var errInactive = errors.New("token inactive")

// verifyAccessToken validates one of this server's access tokens as a
// resource server would (RFC 9068 section 4): signature by a published
// key, "typ" at+jwt, issuer, expiry, and that it was not revoked.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (*accessClaims, error) {
	c, err := s.parseAccessToken(token)
	if err != nil {
		return nil, err
	}
	if err := s.checkNotRevoked(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// parseAccessToken is verifyAccessToken without the revocation check.
func (s *Server) parseAccessToken(token string) (*accessClaims, error) {
	if len(token) > 8192 {
		return nil, errInactive
	}
	payload, err := s.keys.Verify(token, "at+jwt")
	if err != nil {
		return nil, errInactive
	}
	var c accessClaims
	if err := decodeClaims(payload, &c); err != nil {
		return nil, errInactive
	}
	if c.Iss != s.issuer || c.Sub == "" || c.Jti == "" || !s.now().Before(time.Unix(c.Exp, 0)) {
		return nil, errInactive
	}
	return &c, nil
}
