package resourceserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// CacheOptions configures a [Cache].
type CacheOptions struct {
	// MaxEntries bounds the number of cached tokens; the oldest entry is
	// dropped when a new one would exceed it. If zero, 10,000.
	MaxEntries int
	// MaxAge is how long a validated token is reused before the wrapped
	// Verifier is asked again, whatever its expiry: the bound on how late a
	// revocation the Verifier can see (introspection) is honoured. If
	// zero, 1 minute.
	MaxAge time.Duration
	// NegativeMaxAge is how long an invalid_token verdict is reused, so a
	// client retrying a revoked or expired token does not reach the
	// authorization server on every request. If zero, 5 seconds; negative
	// disables negative caching.
	NegativeMaxAge time.Duration
	// MaxRevocations bounds the token ids remembered by
	// [Cache.RevokeTokenID]. If zero, 100,000.
	MaxRevocations int
	// Revocations, if not nil, is consulted after every verification
	// and on every cache hit, before the principal is used: a revoked
	// token is refused on the next request, cached or not. Its verdicts
	// are not cached.
	Revocations Revocations
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Cache is a [Verifier] that remembers what another Verifier decided, keyed
// by the SHA-256 of the token: the token itself is never stored, so a memory
// dump of the cache yields no usable credential.
//
// An entry lives until the earliest of the token's expiry and MaxAge after
// it was verified. Concurrent requests carrying the same unverified token
// share one verification. Errors matching [ErrUnavailable] are never
// cached. [Cache.RevokeTokenID] and [Cache.Forget] let a revocation feed
// (for example the authorization server's revocation fan-out) take effect
// at once instead of within MaxAge.
type Cache struct {
	next       Verifier
	maxEntries int
	maxAge     time.Duration
	negAge     time.Duration
	maxRevoked int
	revs       Revocations
	now        func() time.Time

	mu      sync.RWMutex
	entries map[[32]byte]*cacheEntry
	ring    [][32]byte // insertion order, for eviction
	head    int        // next ring slot to reuse once the ring is full

	flightMu sync.Mutex
	flight   map[[32]byte]*flightCall

	revokedN  atomic.Int64 // len(revoked), read without the lock on the hot path
	revokedMu sync.RWMutex
	revoked   map[string]time.Time // issuer NUL jti -> forget after
}

type cacheEntry struct {
	p       *Principal
	err     error
	expires time.Time
	slot    int
}

type flightCall struct {
	done chan struct{}
	p    *Principal
	err  error
}

var _ Verifier = (*Cache)(nil)

// NewCache returns a Cache in front of next.
func NewCache(next Verifier, opts CacheOptions) (*Cache, error) {
	if next == nil {
		return nil, errors.New("resourceserver: NewCache needs a Verifier")
	}
	c := &Cache{
		next:       next,
		maxEntries: opts.MaxEntries,
		maxAge:     opts.MaxAge,
		negAge:     opts.NegativeMaxAge,
		maxRevoked: opts.MaxRevocations,
		revs:       opts.Revocations,
		now:        opts.Now,
		flight:     make(map[[32]byte]*flightCall),
		revoked:    make(map[string]time.Time),
	}
	if c.maxEntries < 0 || c.maxAge < 0 || c.maxRevoked < 0 {
		return nil, fmt.Errorf("resourceserver: CacheOptions: negative bound")
	}
	if c.maxEntries == 0 {
		c.maxEntries = 10_000
	}
	if c.maxAge == 0 {
		c.maxAge = time.Minute
	}
	if c.negAge == 0 {
		c.negAge = 5 * time.Second
	}
	if c.maxRevoked == 0 {
		c.maxRevoked = 100_000
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.entries = make(map[[32]byte]*cacheEntry, min(c.maxEntries, 1024))
	return c, nil
}

// Verify returns the cached verdict on token, or asks the wrapped Verifier.
func (c *Cache) Verify(ctx context.Context, token string) (*Principal, error) {
	key := tokenHash(token)
	now := c.now()
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e != nil && now.Before(e.expires) {
		if e.err != nil {
			return nil, e.err
		}
		return c.checkRevoked(ctx, e.p)
	}
	p, err := c.verifyOnce(ctx, key, token)
	if err != nil {
		return nil, err
	}
	return c.checkRevoked(ctx, p)
}

// tokenHash is the cache key: SHA-256 of the token. The string's bytes are
// hashed in place; converting to []byte would copy the token on every
// request, the one allocation of a cache hit. sha256 only reads them.
func tokenHash(token string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// verifyOnce calls the wrapped Verifier, sharing the call among
// concurrent requests with the same token.
func (c *Cache) verifyOnce(ctx context.Context, key [32]byte, token string) (*Principal, error) {
	c.flightMu.Lock()
	if f := c.flight[key]; f != nil {
		c.flightMu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil && ctx.Err() == nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
			// The leader's request went away; ours did not.
			return c.next.Verify(ctx, token)
		}
		return f.p, f.err
	}
	// A flight may have finished between the caller's cache miss and now:
	// look again before starting another.
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e != nil && c.now().Before(e.expires) {
		c.flightMu.Unlock()
		return e.p, e.err
	}
	f := &flightCall{done: make(chan struct{})}
	c.flight[key] = f
	c.flightMu.Unlock()

	f.p, f.err = c.next.Verify(ctx, token)
	c.store(key, f.p, f.err)

	c.flightMu.Lock()
	delete(c.flight, key)
	c.flightMu.Unlock()
	close(f.done)
	return f.p, f.err
}

func (c *Cache) store(key [32]byte, p *Principal, err error) {
	now := c.now()
	var expires time.Time
	switch {
	case err == nil:
		expires = now.Add(c.maxAge)
		if !p.Expiry.IsZero() && p.Expiry.Before(expires) {
			expires = p.Expiry
		}
	case errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrUnavailable) && c.negAge > 0:
		expires = now.Add(c.negAge)
	default:
		return
	}
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		e2 := &cacheEntry{p: p, err: err, expires: expires, slot: e.slot}
		c.entries[key] = e2
		return
	}
	slot := len(c.ring)
	if slot < c.maxEntries {
		c.ring = append(c.ring, key)
	} else {
		slot = c.head
		old := c.ring[slot]
		if e := c.entries[old]; e != nil && e.slot == slot {
			delete(c.entries, old)
		}
		c.ring[slot] = key
		c.head = (c.head + 1) % c.maxEntries
	}
	c.entries[key] = &cacheEntry{p: p, err: err, expires: expires, slot: slot}
}

// checkRevoked refuses a principal whose token was revoked.
func (c *Cache) checkRevoked(ctx context.Context, p *Principal) (*Principal, error) {
	if c.revs != nil {
		if err := c.revs.Check(ctx, p); err != nil {
			return nil, err
		}
	}
	if c.revokedN.Load() == 0 || p.TokenID == "" {
		return p, nil
	}
	c.revokedMu.RLock()
	_, revoked := c.revoked[p.Issuer+"\x00"+p.TokenID]
	c.revokedMu.RUnlock()
	if revoked {
		return nil, invalidToken("the access token has been revoked", nil)
	}
	return p, nil
}

// Forget drops the cached verdict on token, so the next request with it
// is verified again.
func (c *Cache) Forget(token string) {
	key := tokenHash(token)
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// RevokeTokenID refuses, from now on, every token of issuer whose "jti" is
// tokenID, cached or not: a JWT access token stays valid by signature until
// it expires, so a revocation (RFC 7009) reaches the resource server only
// through a feed that calls this. until is when the token expires anyway
// (the entry is dropped then); if zero, MaxAge plus 24 hours. When the
// list is full, the entry closest to its end is dropped.
func (c *Cache) RevokeTokenID(issuer, tokenID string, until time.Time) {
	if tokenID == "" {
		return
	}
	now := c.now()
	if until.IsZero() {
		until = now.Add(c.maxAge + 24*time.Hour)
	}
	c.revokedMu.Lock()
	defer c.revokedMu.Unlock()
	if len(c.revoked) >= c.maxRevoked {
		var victim string
		var soonest time.Time
		for k, t := range c.revoked {
			if !now.Before(t) {
				delete(c.revoked, k)
				continue
			}
			if victim == "" || t.Before(soonest) {
				victim, soonest = k, t
			}
		}
		if len(c.revoked) >= c.maxRevoked && victim != "" {
			delete(c.revoked, victim)
		}
	}
	c.revoked[issuer+"\x00"+tokenID] = until
	c.revokedN.Store(int64(len(c.revoked)))
}

// Len returns the number of cached verdicts.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
