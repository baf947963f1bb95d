package redis

import (
	"context"
	"errors"
	"runtime"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Client is the go-redis client, named here so that the packages that pass
// it along (app) need not import go-redis.
type Client = goredis.Client

// ClientOptions configures NewClient. URL is required.
type ClientOptions struct {
	// URL is a redis:// or rediss:// URL.
	URL string
	// Timeout bounds dialing, waiting for a pooled connection, and each
	// read and write, so that an unreachable Redis fails fast instead of
	// hanging a request. Each user of the client bounds its calls further
	// through its context. If zero, 250ms.
	Timeout time.Duration
	// PoolSize bounds the open connections. If zero, 20 per CPU: the
	// session denylist and the rate-limit buckets, each of which had a
	// client of 10 per CPU before they shared one, both talk to Redis on
	// every call, and the revocation feed holds one connection in a
	// blocking read.
	PoolSize int
	// BreakerThreshold is how many commands in a row may go unanswered
	// (timeouts, refused or broken connections) before the circuit
	// breaker opens and every command fails at once with ErrCircuitOpen.
	// If zero, 3.
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before one
	// command probes Redis again. If zero, 1s.
	BreakerCooldown time.Duration
}

// NewClient returns a Redis client for everything a process keeps in
// Redis: one pool of connections, which its owner closes once, after the
// last user. It does not contact Redis.
//
// Failed commands are not retried: a script whose reply was lost may have
// run, and running it again could count an event twice. Every user fails
// closed or retries on its own terms instead.
func NewClient(o ClientOptions) (*Client, error) {
	ro, err := goredis.ParseURL(o.URL)
	if err != nil {
		return nil, errors.New("redis: invalid URL") // it may hold a password: never echo it
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = o.Timeout, o.Timeout, o.Timeout, o.Timeout
	ro.ContextTimeoutEnabled = true
	ro.DisableIdentity = true
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.PoolSize = o.PoolSize
	if ro.PoolSize <= 0 {
		ro.PoolSize = 20 * runtime.GOMAXPROCS(0)
	}
	c := goredis.NewClient(ro)
	// A Redis that stops answering costs each caller at most Timeout,
	// and only until the breaker opens; then a bounded delay of zero.
	c.AddHook(newBreaker(o.BreakerThreshold, o.BreakerCooldown))
	return c, nil
}

// DefaultTimeout bounds one round trip of a user that names no timeout.
const DefaultTimeout = 250 * time.Millisecond

// bound returns ctx limited to d from now.
func bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(ctx, d)
}
