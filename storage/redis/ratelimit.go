package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// CounterOptions configures a Counter.
type CounterOptions struct {
	// KeyPrefix namespaces the keys. If empty, "mcpfort:count:". Replicas
	// that share limits must use the same prefix.
	KeyPrefix string
	// Timeout bounds dialing and each round trip, so that an unreachable
	// Redis fails the request fast instead of hanging it. If zero, 250ms.
	Timeout time.Duration
}

// Counter keeps fixed-window event counts in Redis, so that the sign-in
// and registration limits of the authorization server hold across
// replicas. It implements authserver.RateLimiter.
//
// A count is one key per limited key (hashed: bounded length, no
// usernames or addresses stored in Redis), incremented by a script that
// also starts its expiry on the first event, so the window is kept by
// Redis's clock, not the replicas'. Every error is returned, never
// retried or guessed around: the authorization server then refuses the
// attempt (fail closed), since a sign-in that cannot be counted cannot be
// limited.
type Counter struct {
	rdb     *goredis.Client
	prefix  string
	timeout time.Duration
}

// NewCounter returns a Counter on rdb (see NewClient, which never retries:
// a script whose reply was lost may have run, and retrying could count an
// event twice). rdb stays the caller's to close. It does not contact Redis.
func NewCounter(rdb *goredis.Client, o CounterOptions) *Counter {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "mcpfort:count:"
	}
	return &Counter{rdb: rdb, prefix: o.KeyPrefix, timeout: o.Timeout}
}

func (c *Counter) key(k string) string {
	sum := sha256.Sum256([]byte(k))
	return c.prefix + hex.EncodeToString(sum[:16])
}

// takeScript counts one event against KEYS[1] unless it already holds
// ARGV[1] (the limit) events. The first event of a window sets the expiry
// to ARGV[2] milliseconds; so does any event on a key that somehow has
// none, so that no count outlives its window. It returns {1, 0} when the
// event was counted, {0, ms until the window ends} when not.
var takeScript = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if n >= tonumber(ARGV[1]) and ttl > 0 then
  return {0, ttl}
end
n = redis.call('INCR', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, 0}
`)

// refundScript takes one event back from a count that is still running.
var refundScript = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 and redis.call('PTTL', KEYS[1]) > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
`)

// Take counts one event against key unless it already holds limit events
// in its current window; see authserver.RateLimiter.
func (c *Counter) Take(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	ms := max(window.Milliseconds(), 1)
	ctx, cancel := bound(ctx, c.timeout)
	defer cancel()
	res, err := takeScript.Run(ctx, c.rdb, []string{c.key(key)}, strconv.Itoa(limit), strconv.FormatInt(ms, 10)).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis: unexpected script reply of %d values", len(res))
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

// Refund takes back one event counted for key in its current window.
func (c *Counter) Refund(ctx context.Context, key string) error {
	ctx, cancel := bound(ctx, c.timeout)
	defer cancel()
	if err := refundScript.Run(ctx, c.rdb, []string{c.key(key)}).Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
