package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// Revocation is an event the server emits when access tokens it issued
// are revoked before they expire. Its JWT access tokens are validated by
// signature, so a resource server that does not introspect learns of a
// revocation only from these events (see Options.Revoker). Exactly one of
// TokenID, GrantID and Subject selects the tokens.
type Revocation struct {
	// TokenID revokes the access token whose "jti" it is.
	TokenID string
	// GrantID revokes every access token whose "sid" it is: those issued
	// from one refresh-token family.
	GrantID string
	// Subject revokes the user's access tokens issued at or before
	// IssuedBefore; with ClientID, only those issued to that client.
	Subject      string
	ClientID     string
	IssuedBefore time.Time
	// Until is when every access token the event concerns has expired.
	Until time.Time
}

// Revoker receives the server's revocation events, after the store has
// recorded the revocation. Revoke should return quickly; an error means
// the event may not reach every resource server, and the server reports
// the revocation as failed where the protocol allows (RFC 7009 section
// 2.2.1: 503, "the client must assume the token still exists"). Safe for
// concurrent use.
type Revoker interface {
	Revoke(ctx context.Context, r Revocation) error
}

// revocationSkew widens subject revocations: tokens issued up to this long
// after the revocation are refused too, so that a replica whose clock runs
// ahead cannot have stamped a token issued just before the revocation with
// a later "iat".
const revocationSkew = 2 * time.Second

// errNotPublished: the store recorded the revocation, but the Revoker
// failed, so resource servers may not know.
var errNotPublished = errors.New("revocation not published")

// handleRevoke is the RFC 7009 revocation endpoint. The client
// authenticates as at the token endpoint (public clients send client_id,
// section 2.1). Revoking a refresh token revokes its whole family and
// every access token issued from it (section 2.1: "the authorization
// server SHOULD also invalidate all access tokens based on the same
// authorization grant"); revoking an access token denies its jti until it
// expires. Only tokens issued to the calling client are revoked, and the
// answer is 200 whether or not the token was valid (section 2.2), so the
// endpoint reveals nothing. When the revocation could not be passed on to
// the resource servers the answer is 503 (section 2.2.1), so the client
// retries rather than believe the token dead.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := readForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cl, err := s.authenticateClient(ctx, r, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token := f.get("token")
	if token == "" {
		s.fail(w, r, oauth.NewError(oauth.InvalidRequest, "token is required"))
		return
	}
	// A token already revoked is revoked again: the client may be
	// retrying after a 503, and the event must go out this time.
	if strings.Count(token, ".") == 2 {
		c, err := s.parseAccessToken(token)
		if err == nil && c.ClientID == cl.id {
			err = s.revokeAccessToken(ctx, c.Jti, time.Unix(c.Exp, 0))
		}
		if err != nil && !errors.Is(err, errInactive) {
			s.failRevoke(w, r, err)
			return
		}
	} else if len(token) <= 128 {
		fam, _, err := s.store.GetFamilyByToken(ctx, hashSecret(token))
		if err == nil && fam.ClientID == cl.id {
			err = s.revokeFamily(ctx, fam)
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.failRevoke(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) failRevoke(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotPublished) {
		w.Header().Set("Retry-After", "1")
		s.fail(w, r, oauth.Wrap(oauth.TemporarilyUnavailable, "the revocation could not be completed; try again", err))
		return
	}
	s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", err))
}

// maxTokenLifetime is the longest lifetime of an access token this server
// issues: how long a grant or subject revocation must be remembered.
func (s *Server) maxTokenLifetime() time.Duration {
	lt := s.opts.AccessTokenLifetime
	for _, r := range s.resources {
		lt = max(lt, r.lifetime)
	}
	return lt
}

// publish hands events to the Revoker.
func (s *Server) publish(ctx context.Context, events ...Revocation) error {
	if s.opts.Revoker == nil {
		return nil
	}
	var errs []error
	for _, ev := range events {
		if err := s.opts.Revoker.Revoke(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.log.ErrorContext(ctx, "passing a revocation on to resource servers failed; they may accept the tokens until they expire",
			"error", err.Error())
		return fmt.Errorf("%w: %w", errNotPublished, err)
	}
	return nil
}

// revokeAccessToken denies one access token until it expires.
func (s *Server) revokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" || !exp.After(s.now()) {
		return nil
	}
	if err := s.denyAccessToken(ctx, jti, exp); err != nil {
		return err
	}
	return s.publish(ctx, Revocation{TokenID: jti, Until: exp})
}

// revokeFamily revokes a refresh-token family and every access token
// issued from it.
func (s *Server) revokeFamily(ctx context.Context, f *storage.RefreshFamily) error {
	if err := s.store.RevokeFamily(ctx, f.ID, s.now()); err != nil {
		return err
	}
	return s.familyRevoked(ctx, f.ID, f.LastAccessTokenID, f.LastAccessExpires)
}

// familyRevoked revokes the access tokens of a family the store has
// revoked: the newest one by its jti (the server's own introspection
// checks that), and all of them, by "sid", at the resource servers.
func (s *Server) familyRevoked(ctx context.Context, familyID, lastJti string, lastExp time.Time) error {
	now := s.now()
	var events []Revocation
	if familyID != "" {
		events = append(events, Revocation{GrantID: familyID, Until: now.Add(s.maxTokenLifetime())})
	}
	if lastJti != "" && lastExp.After(now) {
		if err := s.denyAccessToken(ctx, lastJti, lastExp); err != nil {
			return err
		}
		events = append(events, Revocation{TokenID: lastJti, Until: lastExp})
	}
	return s.publish(ctx, events...)
}

func (s *Server) denyAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" || !exp.After(s.now()) {
		return nil
	}
	return s.store.DenyAccessToken(ctx, jti, exp)
}

// revokeGrant withdraws a user's consent for a client and revokes what the
// client holds for the user: its refresh tokens and every access token
// issued to it for the user until now.
func (s *Server) revokeGrant(ctx context.Context, userID, clientID string) error {
	if err := s.store.DeleteConsent(ctx, userID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	now := s.now()
	fams, err := s.store.RevokeFamilies(ctx, userID, clientID, now)
	if err != nil {
		return err
	}
	for _, f := range fams {
		if err := s.denyAccessToken(ctx, f.LastAccessTokenID, f.LastAccessExpires); err != nil {
			return err
		}
	}
	return s.publish(ctx, SubjectRevocation(userID, clientID, now, s.maxTokenLifetime()))
}

// SubjectRevocation is the event revoking the access tokens of a user
// (clientID empty: for every client) issued up to now, for tokens that
// live at most maxLifetime.
func SubjectRevocation(userID, clientID string, now time.Time, maxLifetime time.Duration) Revocation {
	return Revocation{Subject: userID, ClientID: clientID, IssuedBefore: now.Add(revocationSkew),
		Until: now.Add(revocationSkew + maxLifetime)}
}

// checkNotRevoked is the server's own revocation check of one of its
// access tokens (introspection, revocation, token exchange): the token's
// jti was not denied, its family was not revoked and its user is not
// disabled.
func (s *Server) checkNotRevoked(ctx context.Context, c *accessClaims) error {
	denied, err := s.store.AccessTokenDenied(ctx, c.Jti)
	if err != nil {
		return fmt.Errorf("check revocation: %w", err)
	}
	if denied {
		return errInactive
	}
	if c.Sid != "" {
		// A family that is gone has expired, and its tokens with it.
		f, err := s.store.GetFamily(ctx, c.Sid)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return fmt.Errorf("check revocation: %w", err)
		case !f.RevokedAt.IsZero():
			return errInactive
		}
	}
	u, err := s.store.GetUser(ctx, c.Sub)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Not a user: the client itself (client credentials).
	case err != nil:
		return fmt.Errorf("check revocation: %w", err)
	case u.Disabled:
		return errInactive
	}
	return nil
}

// AccessTokenRevoked reports whether the store records the revocation of
// the access token with this "jti", "sid" and "sub": the token was denied,
// its refresh-token family revoked, or its user disabled. It serves a
// resource server in the same deployment that has to decide about a token
// issued before it started following the revocation events.
func (s *Server) AccessTokenRevoked(ctx context.Context, jti, sid, sub string) (bool, error) {
	err := s.checkNotRevoked(ctx, &accessClaims{Jti: jti, Sid: sid, Sub: sub})
	if errors.Is(err, errInactive) {
		return true, nil
	}
	return false, err
}
