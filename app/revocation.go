package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/gateway/upstream/credentials"
	"github.com/mcpfort/mcpfort/resourceserver"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
)

// revocations carries the embedded authorization server's revocations to
// the token cache: at once in this process, and, with state.redis, to
// every replica through a Redis stream that each replica follows. Upstream
// tokens obtained by exchange for a revoked token are dropped with it.
//
// With Redis, a replica that has not read the stream for
// state.revocation_max_staleness refuses the embedded server's tokens
// with 503 (resourceserver.RevocationList.MaxStaleness) until it has
// caught up again.
type revocations struct {
	issuer string
	list   *resourceserver.RevocationList
	feed   *redisstate.RevocationFeed // nil: one replica
	log    *slog.Logger

	mu        sync.Mutex
	exchanges []*credentials.TokenExchange
}

var _ authserver.Revoker = (*revocations)(nil)

// newRevocations builds the revocation list of issuer and, if rdb is not
// nil, the feed on rdb that keeps it current.
func newRevocations(issuer string, rdb *redisstate.Client, staleness time.Duration, log *slog.Logger) (*revocations, error) {
	r := &revocations{issuer: issuer, log: log}
	opts := resourceserver.RevocationListOptions{Issuer: issuer}
	if rdb != nil {
		r.feed = redisstate.NewRevocationFeed(rdb, redisstate.RevocationFeedOptions{Stream: RevocationStream(issuer), Timeout: redisTimeout, Logger: log})
		opts.MaxStaleness = staleness
	}
	list, err := resourceserver.NewRevocationList(opts)
	if err != nil {
		return nil, err
	}
	r.list = list
	return r, nil
}

// Revoke implements authserver.Revoker: the event applies here at once,
// then goes to the other replicas.
func (r *revocations) Revoke(ctx context.Context, ev authserver.Revocation) error {
	rv := resourceserver.Revocation{Issuer: r.issuer, TokenID: ev.TokenID, GrantID: ev.GrantID, Subject: ev.Subject,
		ClientID: ev.ClientID, IssuedBefore: ev.IssuedBefore, Until: ev.Until}
	r.apply(rv)
	if r.feed == nil {
		return nil
	}
	return r.feed.Publish(ctx, redisstate.RevocationEvent{Issuer: rv.Issuer, TokenID: rv.TokenID, GrantID: rv.GrantID,
		Subject: rv.Subject, ClientID: rv.ClientID, IssuedBefore: rv.IssuedBefore, Until: rv.Until})
}

// applyEvent applies an event read from the stream.
func (r *revocations) applyEvent(ev redisstate.RevocationEvent) {
	if ev.Issuer != r.issuer {
		return // another deployment sharing the stream
	}
	r.apply(resourceserver.Revocation{Issuer: ev.Issuer, TokenID: ev.TokenID, GrantID: ev.GrantID, Subject: ev.Subject,
		ClientID: ev.ClientID, IssuedBefore: ev.IssuedBefore, Until: ev.Until})
}

func (r *revocations) apply(rv resourceserver.Revocation) {
	if err := r.list.Add(rv); err != nil {
		r.log.Warn("ignoring a revocation event", "error", err.Error())
		return
	}
	r.mu.Lock()
	xs := r.exchanges
	r.mu.Unlock()
	for _, x := range xs {
		x.Drop(func(o credentials.Owner) bool {
			return rv.Matches(&resourceserver.Principal{Issuer: o.Issuer, TokenID: o.TokenID, GrantID: o.GrantID,
				Subject: o.Subject, ClientID: o.ClientID, IssuedAt: o.IssuedAt})
		})
	}
}

// addExchange registers a token-exchange cache to purge on revocation.
func (r *revocations) addExchange(x *credentials.TokenExchange) {
	r.mu.Lock()
	r.exchanges = append(r.exchanges, x)
	r.mu.Unlock()
}

// follow keeps the list current from the stream until ctx ends. It
// returns a channel closed once the list has caught up for the first time.
func (r *revocations) follow(ctx context.Context) <-chan struct{} {
	synced := make(chan struct{})
	if r.feed == nil {
		close(synced)
		return synced
	}
	var once sync.Once
	go r.feed.Follow(ctx, r.applyEvent, func(t time.Time) {
		r.list.MarkCurrent(t)
		once.Do(func() { close(synced) })
	})
	return synced
}

// RevocationStream is the Redis stream that carries the revocations of
// the embedded authorization server with this issuer: replicas of one
// deployment share it, other deployments on the same Redis do not.
func RevocationStream(issuer string) string { return "mcpfort:revocations:" + issuer }

// ownerOf describes the client's token for the token-exchange cache.
func ownerOf(p *resourceserver.Principal) credentials.Owner {
	if p == nil {
		return credentials.Owner{}
	}
	return credentials.Owner{Issuer: p.Issuer, TokenID: p.TokenID, GrantID: p.GrantID, Subject: p.Subject,
		ClientID: p.ClientID, IssuedAt: p.IssuedAt}
}

// issuedBeforeStart covers what the revocation list cannot know: events
// from before this process started, which nothing replays without Redis
// (and which a capped stream may have lost). A token of the embedded
// server issued before the start is checked once against the
// authorization server's store (denied token, revoked family, disabled
// user); the verdict is kept until the token expires, since anything
// revoked later arrives as an event.
type issuedBeforeStart struct {
	issuer string
	start  time.Time
	as     *authserver.Server
	max    int

	mu       sync.Mutex
	verdicts map[string]verdict // jti
}

type verdict struct {
	revoked bool
	until   time.Time
}

func (c *issuedBeforeStart) Check(ctx context.Context, p *resourceserver.Principal) error {
	if p.Issuer != c.issuer || p.IssuedAt.After(c.start) {
		return nil
	}
	now := time.Now()
	c.mu.Lock()
	v, ok := c.verdicts[p.TokenID]
	c.mu.Unlock()
	if !ok || !now.Before(v.until) {
		revoked, err := c.as.AccessTokenRevoked(ctx, p.TokenID, p.GrantID, p.Subject)
		if err != nil {
			return fmt.Errorf("%w: %w", resourceserver.ErrUnavailable, err)
		}
		v = verdict{revoked: revoked, until: p.Expiry}
		c.mu.Lock()
		if len(c.verdicts) >= c.max {
			for k, old := range c.verdicts {
				if !now.Before(old.until) {
					delete(c.verdicts, k)
				}
			}
		}
		if len(c.verdicts) < c.max {
			c.verdicts[p.TokenID] = v
		}
		c.mu.Unlock()
	}
	if v.revoked {
		return &resourceserver.Error{Code: resourceserver.InvalidToken, Description: "the access token has been revoked"}
	}
	return nil
}

// bothChecks consults each checker in turn.
type bothChecks []resourceserver.Revocations

func (cs bothChecks) Check(ctx context.Context, p *resourceserver.Principal) error {
	for _, c := range cs {
		if err := c.Check(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// checker is what the token cache consults.
func (r *revocations) checker(as *authserver.Server) resourceserver.Revocations {
	if as == nil {
		return r.list
	}
	return bothChecks{r.list, &issuedBeforeStart{issuer: r.issuer, start: time.Now(), as: as, max: 100_000, verdicts: map[string]verdict{}}}
}
