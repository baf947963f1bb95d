package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/oauth/dpop"
)

// DPoP at the token endpoint (RFC 9449 section 5): a client that sends a
// valid proof gets access tokens bound to its key ("token_type": "DPoP",
// "cnf": {"jkt": ...}, section 6.1), and a public client's refresh tokens
// are bound to it too.

// DPoPOptions configures DPoP (RFC 9449) at the token endpoint.
type DPoPOptions struct {
	// RequireNonce makes every proof carry a nonce this server issued
	// (section 8): a proof without one, or with an expired one, is
	// answered use_dpop_nonce with a fresh DPoP-Nonce header. Nonces are
	// stateless: a timestamp sealed with the key-encryption key, so every
	// replica accepts every replica's nonces.
	RequireNonce bool
	// NonceLifetime is how long a nonce is accepted. Default 5 minutes.
	NonceLifetime time.Duration
	// Replay remembers proof identifiers for the acceptance window
	// (section 11.1). Default: in memory, per process.
	Replay dpop.ReplayCache
}

const (
	oauthInvalidDPoPProof oauth.ErrorCode = "invalid_dpop_proof" // RFC 9449 section 5
	oauthUseDPoPNonce     oauth.ErrorCode = "use_dpop_nonce"     // RFC 9449 section 8
	purposeDPoPNonce                      = "dpop-nonce"
	refreshJKTSeparator                   = "."
)

// dpopSigningAlgs are the proof algorithms accepted and advertised
// (RFC 9449 section 5.1 dpop_signing_alg_values_supported).
var dpopSigningAlgs = dpop.DefaultAlgorithms

type dpopKey struct{}

// dpopJKT returns the thumbprint of the key the token request proved, or
// "" when it sent no proof.
func dpopJKT(ctx context.Context) string {
	s, _ := ctx.Value(dpopKey{}).(string)
	return s
}

// tokenEndpointDPoP validates the DPoP header of a token request (RFC 9449
// section 4.3, with htm POST and htu the token endpoint, section 5) and
// returns the proof key's thumbprint, or "" when there is no header. More
// than one header is invalid_dpop_proof (section 4.3 check 1).
func (s *Server) tokenEndpointDPoP(r *http.Request) (string, error) {
	values := r.Header.Values("DPoP")
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", oauth.NewError(oauthInvalidDPoPProof, "exactly one DPoP proof is allowed")
	}
	p, err := dpop.Parse(values[0], dpopSigningAlgs)
	if err != nil {
		return "", oauth.Wrap(oauthInvalidDPoPProof, "the DPoP proof is invalid", err)
	}
	check := dpop.Check{
		Method: http.MethodPost, URL: s.origin + s.endpoints.token, Now: s.now(), Replay: s.dpopReplay,
	}
	if s.opts.DPoP.RequireNonce {
		check.Nonce = s.checkDPoPNonce
	}
	switch err := p.Check(r.Context(), check); {
	case errors.Is(err, dpop.ErrNonce):
		return "", oauth.Wrap(oauthUseDPoPNonce, "a DPoP nonce from this server is required", err)
	case errors.Is(err, dpop.ErrReplayUnavailable):
		return "", oauth.Wrap(oauth.TemporarilyUnavailable, "the DPoP proof could not be checked", err)
	case err != nil:
		return "", oauth.Wrap(oauthInvalidDPoPProof, "the DPoP proof does not match the request", err)
	}
	return p.JKT, nil
}

// dpopNonce issues a server nonce (RFC 9449 section 8): an AEAD-sealed
// expiry, verifiable by any replica sharing the key-encryption key.
func (s *Server) dpopNonce() (string, error) {
	return s.seal(purposeDPoPNonce, s.dpopNonceLifetime(), struct{}{})
}

func (s *Server) dpopNonceLifetime() time.Duration {
	if s.opts.DPoP.NonceLifetime > 0 {
		return s.opts.DPoP.NonceLifetime
	}
	return 5 * time.Minute
}

// checkDPoPNonce accepts a nonce this server sealed and that has not
// expired (RFC 9449 section 4.3 check 10).
func (s *Server) checkDPoPNonce(nonce string) error {
	if nonce == "" {
		return errors.New("no nonce")
	}
	var v struct{}
	return s.unseal(purposeDPoPNonce, nonce, &v)
}

// bindRefreshToken appends the key's thumbprint to a public client's
// refresh token (RFC 9449 section 5: refresh tokens issued to public
// clients MUST be bound to the DPoP key). Only the token's SHA-256 is
// stored, so the binding cannot be altered without changing the token.
func bindRefreshToken(rt string, cl *client, jkt string) string {
	if jkt == "" || !cl.public() {
		return rt
	}
	return rt + refreshJKTSeparator + jkt
}

// refreshTokenJKT returns the key a refresh token is bound to, or "".
func refreshTokenJKT(rt string) string {
	_, jkt, _ := strings.Cut(rt, refreshJKTSeparator)
	return jkt
}

// checkRefreshBinding requires a proof by the bound key to refresh a bound
// token (RFC 9449 section 5).
func checkRefreshBinding(rt, jkt string) error {
	bound := refreshTokenJKT(rt)
	switch {
	case bound == "":
		return nil
	case jkt == "":
		return oauth.NewError(oauthInvalidDPoPProof, "the refresh token is DPoP-bound: a proof of its key is required")
	case jkt != bound:
		return oauth.NewError(oauth.InvalidGrant, "the refresh token is bound to another key")
	}
	return nil
}

// validJKT: a base64url SHA-256 JWK thumbprint (RFC 7638), 43 characters.
func validJKT(s string) bool {
	b, err := base64url.Decode(s)
	return err == nil && len(b) == 32
}

// bindCode appends the authorization request's dpop_jkt to the code (RFC
// 9449 section 10). Only the code's SHA-256 is stored, so the binding
// cannot be altered without changing the code.
func bindCode(code, jkt string) string {
	if jkt == "" {
		return code
	}
	return code + refreshJKTSeparator + jkt
}

// checkCodeBinding requires, for a code bound with dpop_jkt, a proof of
// that key in the token request (RFC 9449 section 10). It runs before the
// code is consumed, so a stolen code cannot be burned by its thief.
func checkCodeBinding(code, jkt string) error {
	_, bound, _ := strings.Cut(code, refreshJKTSeparator)
	switch {
	case bound == "":
		return nil
	case jkt == "":
		return oauth.NewError(oauthInvalidDPoPProof, "the authorization code is bound to a DPoP key (dpop_jkt): a proof is required")
	case jkt != bound:
		return oauth.NewError(oauth.InvalidGrant, "the DPoP proof key does not match dpop_jkt")
	}
	return nil
}
