package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/oauth/dpop"
	"github.com/mcpfort/mcpfort/storage"
)

// idClaimsOut are the ID token claims (OpenID Connect Core 1.0 section
// 2, with the profile and email claims of section 5.4 when those scopes
// were granted).
type idClaimsOut struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Aud      string `json:"aud"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
	AuthTime int64  `json:"auth_time,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	AtHash   string `json:"at_hash,omitempty"`
	Azp      string `json:"azp,omitempty"`
	userinfoClaims
}

// userinfoClaims are the claims about the user that the profile and email
// scopes release (OpenID Connect Core 1.0 section 5.4). Federated users'
// email addresses were verified by their provider as far as this server
// knows; local users' addresses are set by the operator and not claimed
// as verified.
type userinfoClaims struct {
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
}

func releasedClaims(u *storage.User, scopes []string) userinfoClaims {
	var c userinfoClaims
	if slices.Contains(scopes, scopeProfile) {
		c.Name, c.PreferredUsername = u.Name, u.Username
	}
	if slices.Contains(scopes, scopeEmail) {
		c.Email = u.Email
	}
	return c
}

// issueIDToken signs the ID token of an authorization-code grant whose
// scopes include openid (OpenID Connect Core 1.0 section 3.1.3.3): the
// client is the audience, the request's nonce is returned, and at_hash
// binds the access token issued with it (section 3.1.3.6).
func (s *Server) issueIDToken(ctx context.Context, u *storage.User, clientID string, ac *storage.AuthCode, accessToken string, exp time.Time) (string, error) {
	now := s.now()
	c := idClaimsOut{Iss: s.issuer, Sub: u.ID, Aud: clientID, Exp: exp.Unix(), Iat: now.Unix(), Nonce: ac.Nonce,
		AtHash: s.atHash(accessToken), userinfoClaims: releasedClaims(u, ac.Scopes)}
	if !ac.AuthTime.IsZero() {
		c.AuthTime = ac.AuthTime.Unix()
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	tok, _, err := s.keys.Sign(ctx, "JWT", payload)
	return tok, err
}

// atHash is the left half of the hash of the access token, with the hash
// of the signing algorithm (SHA-256 for ES256 and RS256, SHA-512 for
// EdDSA over Ed25519), base64url (OpenID Connect Core 1.0 section
// 3.1.3.6).
func (s *Server) atHash(token string) string {
	var sum []byte
	if s.opts.SigningAlgorithm == "EdDSA" {
		h := sha512.Sum512([]byte(token))
		sum = h[:]
	} else {
		h := sha256.Sum256([]byte(token))
		sum = h[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// handleUserinfo is the UserInfo endpoint (OpenID Connect Core 1.0
// section 5.3): an OAuth protected resource of this server answering,
// for an access token of its own that was granted openid, the claims the
// token's profile and email scopes release. Errors are RFC 6750 section 3
// challenges: invalid_token (401) for a missing, bad, revoked or
// user-less token, insufficient_scope (403) without openid.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	challenge := func(status int, code, desc string) {
		v := `Bearer realm="` + s.issuer + `"`
		if code != "" {
			v += `, error="` + code + `", error_description="` + desc + `"`
		}
		if status == http.StatusForbidden {
			v += `, scope="openid"`
		}
		w.Header().Set("WWW-Authenticate", v)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	dpopScheme := strings.EqualFold(scheme, "DPoP")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || dpopScheme) || token == "" {
		// RFC 6750 section 3.1: no error code when the request carried no
		// credentials. Tokens in the body or query are not accepted.
		challenge(http.StatusUnauthorized, "", "")
		return
	}
	c, err := s.verifyAccessToken(ctx, token)
	if err == nil {
		// A DPoP-bound token is good only with a proof of its key, and
		// never as a bearer token (RFC 9449 section 7.1); a bearer token
		// is not sent with the DPoP scheme.
		bound := c.Cnf != nil && c.Cnf.JKT != ""
		switch {
		case bound != dpopScheme:
			err = errInactive
		case bound:
			err = s.userinfoProof(r, token, c.Cnf.JKT)
		}
	}
	if err != nil {
		if !errors.Is(err, errInactive) {
			s.log.ErrorContext(ctx, "userinfo: checking the token failed", "error", err.Error())
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		challenge(http.StatusUnauthorized, "invalid_token", "the access token is not valid")
		return
	}
	scopes, _ := oauth.ParseScope(c.Scope)
	if !slices.Contains(scopes, scopeOpenID) {
		challenge(http.StatusForbidden, "insufficient_scope", "the access token was not granted openid")
		return
	}
	u, err := s.store.GetUser(ctx, c.Sub)
	if err != nil || u.Disabled {
		challenge(http.StatusUnauthorized, "invalid_token", "the access token is not valid")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Sub string `json:"sub"`
		userinfoClaims
	}{u.ID, releasedClaims(u, scopes)})
}

// userinfoProof checks the DPoP proof of a UserInfo request carrying a
// DPoP-bound token (RFC 9449 section 7): one proof, for this method and
// URL, of the token's key, with "ath" hashing the token.
func (s *Server) userinfoProof(r *http.Request, token, jkt string) error {
	values := r.Header.Values("DPoP")
	if len(values) != 1 {
		return errInactive
	}
	p, err := dpop.Parse(values[0], dpopSigningAlgs)
	if err != nil {
		return errInactive
	}
	err = p.Check(r.Context(), dpop.Check{Method: r.Method, URL: s.origin + s.endpoints.userinfo, AccessToken: token, JKT: jkt,
		Now: s.now(), Replay: s.dpopReplay})
	if errors.Is(err, dpop.ErrReplayUnavailable) {
		return err
	}
	if err != nil {
		return errInactive
	}
	return nil
}
