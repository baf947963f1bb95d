package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// grantTokenExchange implements RFC 8693 token exchange for delegation: a
// trusted client (typically the gateway) presents a user's access token
// and receives a new token for a configured upstream resource, on behalf
// of the same subject, with itself recorded as the actor ("act", section
// 4.1). The subject token is an access token from this server or from a
// configured trusted issuer. Scopes can only go down: the result never
// carries a scope the subject token lacks. No refresh token is issued.
//
// What may be exchanged for what is the operator's: the client must be
// registered for this grant with the target among its Resources (RFC 8693
// section 2.2.2: invalid_target when "the authorization server is
// unwilling to issue a token for the requested target"); a subject token
// of this server must have been issued for one of its non-exchange-only
// resources (a route of the gateway), never for an exchange result; and
// an external subject is never mistaken for a local user of the same
// "sub" (subjects are keyed by issuer and subject).
func (s *Server) grantTokenExchange(r *http.Request, cl *client, f form) (*oauth.TokenResponse, error) {
	ctx := r.Context()
	if cl.public() {
		return nil, oauth.NewError(oauth.UnauthorizedClient, "public clients cannot exchange tokens")
	}
	if cl.kind != kindStatic {
		return nil, oauth.NewError(oauth.UnauthorizedClient, "token exchange is available to operator-registered clients only")
	}
	if err := requireGrant(cl, oauth.GrantTokenExchange); err != nil {
		return nil, err
	}
	subjectToken, subjectType := f.get("subject_token"), f.get("subject_token_type")
	switch {
	case subjectToken == "":
		return nil, oauth.NewError(oauth.InvalidRequest, "subject_token is required")
	case subjectType == "":
		return nil, oauth.NewError(oauth.InvalidRequest, "subject_token_type is required")
	case subjectType != oauth.TokenTypeAccessToken && subjectType != oauth.TokenTypeJWT:
		return nil, oauth.NewError(oauth.InvalidRequest, "subject_token_type must be an access token or a JWT")
	case f.get("actor_token") != "" || f.get("actor_token_type") != "":
		// The authenticated client is the actor; a separate actor token
		// would need its own trust rules.
		return nil, oauth.NewError(oauth.InvalidRequest, "actor_token is not supported; the authenticated client is the actor")
	}
	switch rt := f.get("requested_token_type"); rt {
	case "", oauth.TokenTypeAccessToken, oauth.TokenTypeJWT:
	default:
		return nil, oauth.NewError(oauth.InvalidRequest, "requested_token_type must be an access token")
	}
	subj, err := s.verifySubjectToken(ctx, subjectToken)
	if err != nil {
		return nil, oauth.Wrap(oauth.InvalidGrant, "subject_token is invalid", err)
	}
	// Targets: "resource" values are URIs (RFC 8707), "audience" values
	// may be a resource's URI or name (RFC 8693 section 2.1).
	var targets []*resource
	for _, v := range f.all("resource") {
		res, err := s.findResource(v)
		if err != nil {
			return nil, err
		}
		targets = appendUnique(targets, res)
	}
	for _, v := range f.all("audience") {
		res := s.resourceByName(v)
		if res == nil {
			return nil, oauth.NewError(oauth.InvalidTarget, "audience is not a resource of this authorization server")
		}
		targets = appendUnique(targets, res)
	}
	if len(targets) == 0 {
		return nil, oauth.NewError(oauth.InvalidTarget, "resource or audience is required")
	}
	for _, t := range targets {
		if !slices.Contains(cl.resources, t) {
			return nil, oauth.NewError(oauth.InvalidTarget, "the client may not obtain tokens for this target")
		}
	}
	req, err := oauth.ParseScope(f.get("scope"))
	if err != nil {
		return nil, err
	}
	// The OpenID Connect scopes concern this server's UserInfo endpoint,
	// not the target.
	scopes := slices.DeleteFunc(slices.Clone(subj.scopes), userinfoScope)
	if len(cl.scopes) > 0 {
		scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !slices.Contains(cl.scopes, sc) })
	}
	if len(req) > 0 {
		if !containsAll(subj.scopes, req) {
			return nil, oauth.NewError(oauth.InvalidScope, "scope exceeds the subject token's scope")
		}
		scopes = req
	}
	// A target that defines scopes gets a token only if one of them
	// applies; a target that defines none (an upstream whose scopes the
	// operator did not list) gets a token without scope.
	if len(tokenScopes(scopes, targets)) == 0 && (len(req) > 0 || targetsDefineScopes(targets)) {
		return nil, oauth.NewError(oauth.InvalidScope, "none of the subject token's scopes applies to the target")
	}
	act := &oauth.Actor{Sub: cl.id, Act: subj.act}
	now := s.now()
	token, scope, exp, err := s.issueAccessToken(ctx, tokenRequest{subject: subj.sub, clientID: cl.id, aud: targets,
		scopes: scopes, groups: subj.groups, act: act, authTime: subj.authTime, notAfter: subj.exp})
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	return &oauth.TokenResponse{AccessToken: token, TokenType: "Bearer", IssuedTokenType: oauth.TokenTypeAccessToken,
		ExpiresIn: int64(exp.Sub(now).Round(time.Second) / time.Second), Scope: oauth.FormatScope(scope)}, nil
}

func targetsDefineScopes(targets []*resource) bool {
	for _, t := range targets {
		if len(t.scopes) > 0 {
			return true
		}
	}
	return false
}

func appendUnique(l []*resource, r *resource) []*resource {
	if slices.Contains(l, r) {
		return l
	}
	return append(l, r)
}

func (s *Server) resourceByName(v string) *resource {
	if r, err := s.findResource(v); err == nil {
		return r
	}
	for _, r := range s.resources {
		if r.name == v {
			return r
		}
	}
	return nil
}

// subjectToken is what a verified subject token says.
type subjectToken struct {
	sub      string
	scopes   []string
	groups   []string
	act      *oauth.Actor
	authTime time.Time
	exp      time.Time
}

// verifySubjectToken accepts this server's own access tokens and those of
// trusted issuers.
func (s *Server) verifySubjectToken(ctx context.Context, token string) (*subjectToken, error) {
	if len(token) > 8192 {
		return nil, errors.New("token too large")
	}
	if base64url.CompactJWS(token) != nil {
		return nil, errors.New("not a JWS")
	}
	jws, err := jose.ParseSignedCompact(token, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("not a JWS")
	}
	var peek struct {
		Iss string `json:"iss"`
	}
	if err := decodeClaims(jws.UnsafePayloadWithoutVerification(), &peek); err != nil {
		return nil, err
	}
	if peek.Iss == s.issuer {
		c, err := s.verifyAccessToken(ctx, token)
		if err != nil {
			return nil, err
		}
		if !s.routeAudience(c.Aud) {
			return nil, errors.New("subject token was not issued for a route of this server")
		}
		scopes, _ := oauth.ParseScope(c.Scope)
		st := &subjectToken{sub: c.Sub, scopes: scopes, groups: c.Groups, act: c.Act, exp: time.Unix(c.Exp, 0)}
		if c.AuthTime != 0 {
			st.authTime = time.Unix(c.AuthTime, 0)
		}
		return st, nil
	}
	st, err := s.trusted.verify(ctx, jws, peek.Iss, s.now())
	if err != nil {
		return nil, err
	}
	if st.sub, err = s.externalSubject(ctx, peek.Iss, st.sub); err != nil {
		return nil, err
	}
	return st, nil
}

// routeAudience reports whether an access token of this server was issued
// for its routes: at least one audience is a resource of this server and
// none is exchange-only (an exchange result is not exchanged again).
func (s *Server) routeAudience(aud oauth.Audience) bool {
	route := false
	for _, a := range aud {
		r, err := s.findResource(a)
		if err != nil {
			continue
		}
		if r.exchangeOnly {
			return false
		}
		route = true
	}
	return route
}

// externalSubject maps a trusted issuer's subject to this server's subject
// namespace: the user federated from that (issuer, subject) when there is
// one (refused if disabled), otherwise an identifier derived from both
// (OpenID Connect Core 1.0 section 8.1 pairwise style), so that an
// external "sub" equal to a local user's ID never acts as that user.
func (s *Server) externalSubject(ctx context.Context, iss, sub string) (string, error) {
	_, id, err := s.externalUser(ctx, iss, sub)
	return id, err
}

// externalUser is externalSubject with the linked user, or nil when the
// subject is derived.
func (s *Server) externalUser(ctx context.Context, iss, sub string) (*storage.User, string, error) {
	u, err := s.store.GetUserBySubject(ctx, iss, sub)
	switch {
	case err == nil && u.Disabled:
		return nil, "", errUserDisabled
	case err == nil:
		return u, u.ID, nil
	case !errors.Is(err, storage.ErrNotFound):
		return nil, "", err
	}
	h := sha256.Sum256([]byte(iss + "\x00" + sub))
	return nil, externalSubjectPrefix + hex.EncodeToString(h[:16]), nil
}

// errUserDisabled: the external subject's linked user is disabled.
var errUserDisabled = errors.New("the subject's user is disabled")

// externalSubjectPrefix starts the subjects derived for identities of
// trusted issuers that have no local user.
const externalSubjectPrefix = "x_"

// trustedIssuers verifies tokens of other authorization servers with their
// published keys, cached for ten minutes and refetched at once for an
// unknown kid (at most once a minute).
type trustedIssuers struct {
	byIssuer map[string]TrustedIssuer
	client   *http.Client
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]*jwksEntry
}

type jwksEntry struct {
	set     jose.JSONWebKeySet
	fetched time.Time
}

func newTrustedIssuers(list []TrustedIssuer, c *http.Client, now func() time.Time) *trustedIssuers {
	t := &trustedIssuers{byIssuer: map[string]TrustedIssuer{}, client: c, now: now, cache: map[string]*jwksEntry{}}
	for _, ti := range list {
		t.byIssuer[ti.Issuer] = ti
	}
	return t
}

// verifySignature checks jws against the published keys of the trusted
// issuer iss, refetching them once for a key it does not know (rotation),
// and returns the payload.
func (t *trustedIssuers) verifySignature(ctx context.Context, jws *jose.JSONWebSignature, iss string) (TrustedIssuer, []byte, error) {
	ti, ok := t.byIssuer[iss]
	if !ok {
		return ti, nil, errors.New("issuer not trusted")
	}
	hdr := jws.Signatures[0].Protected
	for attempt := 0; attempt < 2; attempt++ {
		set, err := t.keys(ctx, ti, attempt > 0)
		if err != nil {
			return ti, nil, err
		}
		for _, k := range set.Keys {
			if (hdr.KeyID == "" || k.KeyID == hdr.KeyID) && (k.Algorithm == "" || k.Algorithm == hdr.Algorithm) {
				if p, err := jws.Verify(k.Key); err == nil {
					return ti, p, nil
				}
			}
		}
	}
	return ti, nil, errors.New("signature not verified by the issuer's keys")
}

func (t *trustedIssuers) verify(ctx context.Context, jws *jose.JSONWebSignature, iss string, now time.Time) (*subjectToken, error) {
	ti, payload, err := t.verifySignature(ctx, jws, iss)
	if err != nil {
		return nil, err
	}
	var c struct {
		Iss      string         `json:"iss"`
		Sub      string         `json:"sub"`
		Aud      oauth.Audience `json:"aud"`
		Exp      *int64         `json:"exp"`
		Nbf      *int64         `json:"nbf"`
		Scope    string         `json:"scope"`
		AuthTime int64          `json:"auth_time"`
		Act      *oauth.Actor   `json:"act"`
	}
	if err := decodeClaims(payload, &c); err != nil {
		return nil, err
	}
	switch {
	case c.Iss != ti.Issuer || c.Sub == "":
		return nil, errors.New("iss or sub invalid")
	case c.Exp == nil || !now.Before(time.Unix(*c.Exp, 0)):
		return nil, errors.New("expired")
	case c.Nbf != nil && time.Unix(*c.Nbf, 0).After(now.Add(time.Minute)):
		return nil, errors.New("not yet valid")
	case !c.Aud.Contains(ti.Audience):
		return nil, errors.New("audience mismatch")
	}
	scopes, err := oauth.ParseScope(c.Scope)
	if err != nil {
		return nil, err
	}
	st := &subjectToken{sub: c.Sub, scopes: scopes, act: c.Act, exp: time.Unix(*c.Exp, 0)}
	if c.AuthTime != 0 {
		st.authTime = time.Unix(c.AuthTime, 0)
	}
	return st, nil
}

func (t *trustedIssuers) keys(ctx context.Context, ti TrustedIssuer, refresh bool) (*jose.JSONWebKeySet, error) {
	t.mu.Lock()
	e := t.cache[ti.Issuer]
	t.mu.Unlock()
	now := t.now()
	if e != nil && (now.Sub(e.fetched) < 10*time.Minute && (!refresh || now.Sub(e.fetched) < time.Minute)) {
		return &e.set, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ti.JWKSURI, nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks of %s: %w", ti.Issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks of %s: HTTP %d", ti.Issuer, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return nil, err
	}
	if err := jsonx.Validate(body, 8); err != nil {
		return nil, fmt.Errorf("jwks of %s: %w", ti.Issuer, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks of %s: %w", ti.Issuer, err)
	}
	t.mu.Lock()
	t.cache[ti.Issuer] = &jwksEntry{set: set, fetched: now}
	t.mu.Unlock()
	return &set, nil
}
