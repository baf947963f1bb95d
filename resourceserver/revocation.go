package resourceserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Revocations tells whether a validated token was revoked after it was
// issued. A JWT access token stays valid by signature until it expires, so
// a revocation at the authorization server (RFC 7009, a withdrawn consent,
// a disabled user) reaches a resource server that validates tokens locally
// only through a checker fed with the issuer's revocation events.
//
// The [Cache] consults it after every verification and on every cache hit,
// before the principal is used. Check runs on every request: keep the state
// in memory and feed it from elsewhere. Implementations are safe for
// concurrent use.
type Revocations interface {
	// Check returns nil if the token p was validated from may be used, an
	// error matching [ErrInvalidToken] if it was revoked, or one matching
	// [ErrUnavailable] if the checker cannot vouch for it now (the
	// middleware answers 503).
	Check(ctx context.Context, p *Principal) error
}

// Revocation is one revocation event of an issuer. Exactly one of TokenID,
// GrantID and Subject selects the tokens it revokes; the model is that of
// OpenID Connect Back-Channel Logout 1.0 section 2.4 (a logout names a
// "sid", a "sub", or both), plus the "jti" of a single token.
type Revocation struct {
	// Issuer is the "iss" of the tokens concerned.
	Issuer string
	// TokenID revokes the token whose "jti" it is (RFC 7009 revocation
	// of an access token).
	TokenID string
	// GrantID revokes every token whose "sid" it is: all access tokens
	// of a refresh-token family or of one redeemed authorization code.
	GrantID string
	// Subject revokes the subject's tokens issued at or before
	// IssuedBefore (a disabled user); with ClientID, only those issued to
	// that client (a withdrawn consent). Tokens issued later are not
	// affected, so re-enabling the user or consenting again works.
	Subject      string
	ClientID     string
	IssuedBefore time.Time
	// Until is when every token the event concerns has expired; the
	// event is forgotten then.
	Until time.Time
}

// validate reports a malformed event: one that could revoke nothing, or
// everything.
func (r *Revocation) validate() error {
	n := 0
	for _, s := range []string{r.TokenID, r.GrantID, r.Subject} {
		if s != "" {
			n++
		}
	}
	switch {
	case r.Issuer == "":
		return errors.New("revocation without an issuer")
	case n != 1:
		return errors.New("a revocation names exactly one of a token id, a grant id and a subject")
	case r.ClientID != "" && r.Subject == "":
		return errors.New("a revocation names a client only with a subject")
	case r.Subject != "" && r.IssuedBefore.IsZero():
		return errors.New("a subject revocation needs IssuedBefore")
	case r.Until.IsZero():
		return errors.New("revocation without an end")
	}
	return nil
}

// Matches reports whether the event revokes the token p was validated from.
func (r *Revocation) Matches(p *Principal) bool {
	if p == nil || p.Issuer != r.Issuer {
		return false
	}
	switch {
	case r.TokenID != "":
		return p.TokenID == r.TokenID
	case r.GrantID != "":
		return p.GrantID == r.GrantID
	case r.Subject != "":
		// A token without "iat" could have been issued at any time.
		return p.Subject == r.Subject && (r.ClientID == "" || p.ClientID == r.ClientID) &&
			(p.IssuedAt.IsZero() || !p.IssuedAt.After(r.IssuedBefore))
	}
	return false
}

// RevocationListOptions configures a [RevocationList].
type RevocationListOptions struct {
	// Issuer is the issuer whose events the list holds. Required. Tokens
	// of other issuers pass unchecked.
	Issuer string
	// MaxEntries bounds the events remembered. When it is reached and no
	// event has ended, the event closest to its end is dropped and, so
	// that nothing it revoked is accepted again, every token of Issuer
	// that expires no later than that event's end and was issued before
	// the drop is refused. If zero, 100,000.
	MaxEntries int
	// MaxStaleness, if positive, is how long the list may go without
	// [RevocationList.MarkCurrent] before it stops vouching for tokens of
	// Issuer: Check then fails with [ErrUnavailable] (503) until the feed
	// is current again, rather than accept tokens that may have been
	// revoked meanwhile. Until the first MarkCurrent the list is not
	// current. If zero, the list is always current (events are delivered
	// in process, with nothing to fall behind).
	MaxStaleness time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// RevocationList is an in-memory [Revocations] for one issuer, fed with
// [RevocationList.Add]. Memory is bounded: events are forgotten when the
// tokens they concern have expired, and MaxEntries caps them.
type RevocationList struct {
	issuer     string
	maxEntries int
	staleness  time.Duration
	now        func() time.Time

	current atomic.Int64 // unix nanoseconds of the last MarkCurrent
	n       atomic.Int64 // number of entries, read without the lock

	mu        sync.RWMutex
	tokens    map[string]time.Time     // jti -> until
	grants    map[string]time.Time     // sid -> until
	subjects  map[string]subjectRevoke // sub NUL client ("" for all clients)
	floorExp  time.Time                // tokens expiring by then ...
	floorIat  time.Time                // ... and issued by then are refused
	nextSweep time.Time
}

type subjectRevoke struct {
	before, until time.Time
}

var _ Revocations = (*RevocationList)(nil)

// NewRevocationList returns an empty list for opts.
func NewRevocationList(opts RevocationListOptions) (*RevocationList, error) {
	if opts.Issuer == "" {
		return nil, errors.New("resourceserver: RevocationListOptions.Issuer is required")
	}
	if opts.MaxEntries < 0 || opts.MaxStaleness < 0 {
		return nil, errors.New("resourceserver: RevocationListOptions: negative bound")
	}
	l := &RevocationList{
		issuer: opts.Issuer, maxEntries: opts.MaxEntries, staleness: opts.MaxStaleness, now: opts.Now,
		tokens: map[string]time.Time{}, grants: map[string]time.Time{}, subjects: map[string]subjectRevoke{},
	}
	if l.maxEntries == 0 {
		l.maxEntries = 100_000
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Issuer returns the issuer whose events the list holds.
func (l *RevocationList) Issuer() string { return l.issuer }

// MarkCurrent records that every event published up to at has been added.
func (l *RevocationList) MarkCurrent(at time.Time) {
	v := at.UnixNano()
	for {
		old := l.current.Load()
		if old >= v || l.current.CompareAndSwap(old, v) {
			return
		}
	}
}

// Add records an event. Events of another issuer, malformed events and
// events that have already ended are refused with an error; adding an
// event twice is harmless.
func (l *RevocationList) Add(r Revocation) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("resourceserver: %w", err)
	}
	if r.Issuer != l.issuer {
		return fmt.Errorf("resourceserver: revocation for issuer %q added to the list of %q", r.Issuer, l.issuer)
	}
	now := l.now()
	if !now.Before(r.Until) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.nextSweep) {
		l.sweepLocked(now)
	}
	if l.lenLocked() >= l.maxEntries {
		l.sweepLocked(now)
		if l.lenLocked() >= l.maxEntries {
			l.dropSoonestLocked(now)
		}
	}
	switch {
	case r.TokenID != "":
		l.tokens[r.TokenID] = later(l.tokens[r.TokenID], r.Until)
	case r.GrantID != "":
		l.grants[r.GrantID] = later(l.grants[r.GrantID], r.Until)
	default:
		k := r.Subject + "\x00" + r.ClientID
		e := l.subjects[k]
		l.subjects[k] = subjectRevoke{before: later(e.before, r.IssuedBefore), until: later(e.until, r.Until)}
	}
	l.n.Store(int64(l.lenLocked()))
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (l *RevocationList) lenLocked() int { return len(l.tokens) + len(l.grants) + len(l.subjects) }

// sweepLocked forgets ended events.
func (l *RevocationList) sweepLocked(now time.Time) {
	for k, t := range l.tokens {
		if !now.Before(t) {
			delete(l.tokens, k)
		}
	}
	for k, t := range l.grants {
		if !now.Before(t) {
			delete(l.grants, k)
		}
	}
	for k, e := range l.subjects {
		if !now.Before(e.until) {
			delete(l.subjects, k)
		}
	}
	l.nextSweep = now.Add(time.Minute)
}

// dropSoonestLocked makes room by dropping the event closest to its end,
// and refuses from now on every token it could have covered.
func (l *RevocationList) dropSoonestLocked(now time.Time) {
	var soonest time.Time
	var del func()
	consider := func(t time.Time, d func()) {
		if del == nil || t.Before(soonest) {
			soonest, del = t, d
		}
	}
	for k, t := range l.tokens {
		consider(t, func() { delete(l.tokens, k) })
	}
	for k, t := range l.grants {
		consider(t, func() { delete(l.grants, k) })
	}
	for k, e := range l.subjects {
		consider(e.until, func() { delete(l.subjects, k) })
	}
	if del == nil {
		return
	}
	del()
	l.floorExp = later(l.floorExp, soonest)
	l.floorIat = now
}

// Check implements [Revocations].
func (l *RevocationList) Check(_ context.Context, p *Principal) error {
	if p == nil || p.Issuer != l.issuer {
		return nil
	}
	if l.staleness > 0 {
		last := l.current.Load()
		if last == 0 || l.now().Sub(time.Unix(0, last)) > l.staleness {
			return fmt.Errorf("%w: the revocation feed of %s is not current", ErrUnavailable, l.issuer)
		}
	}
	if l.n.Load() == 0 {
		return nil
	}
	now := l.now()
	l.mu.RLock()
	revoked := l.revokedLocked(p, now)
	l.mu.RUnlock()
	if revoked {
		return invalidToken("the access token has been revoked", nil)
	}
	return nil
}

func (l *RevocationList) revokedLocked(p *Principal, now time.Time) bool {
	if !l.floorExp.IsZero() && now.Before(l.floorExp) && !p.Expiry.After(l.floorExp) &&
		(p.IssuedAt.IsZero() || !p.IssuedAt.After(l.floorIat)) {
		return true
	}
	if p.TokenID != "" {
		if t, ok := l.tokens[p.TokenID]; ok && now.Before(t) {
			return true
		}
	}
	if p.GrantID != "" {
		if t, ok := l.grants[p.GrantID]; ok && now.Before(t) {
			return true
		}
	}
	if p.Subject == "" {
		return false
	}
	for _, k := range []string{p.Subject + "\x00", p.Subject + "\x00" + p.ClientID} {
		e, ok := l.subjects[k]
		if ok && now.Before(e.until) && (p.IssuedAt.IsZero() || !p.IssuedAt.After(e.before)) {
			return true
		}
	}
	return false
}

// Len returns the number of events remembered.
func (l *RevocationList) Len() int { return int(l.n.Load()) }
