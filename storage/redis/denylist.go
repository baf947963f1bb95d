package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DenylistOptions configures a Denylist. URL is required.
type DenylistOptions struct {
	// URL is a redis:// or rediss:// URL.
	URL string
	// KeyPrefix namespaces the keys. If empty, "mcpfort:deny:".
	KeyPrefix string
	// Timeout bounds one round trip. If zero, 250ms.
	Timeout time.Duration
}

// Denylist remembers terminated sessions in Redis until they would have
// expired; keys expire by themselves (PXAT), so the set never grows past
// the sessions still alive. It implements the gateway's session.Denylist.
type Denylist struct {
	rdb    *goredis.Client
	prefix string
}

// NewDenylist returns a Denylist. It does not contact Redis.
func NewDenylist(o DenylistOptions) (*Denylist, error) {
	ro, err := goredis.ParseURL(o.URL)
	if err != nil {
		return nil, errors.New("redis: invalid URL") // it may hold a password: never echo it
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = o.Timeout, o.Timeout, o.Timeout, o.Timeout
	ro.ContextTimeoutEnabled = true
	ro.DisableIdentity = true
	if o.KeyPrefix == "" {
		o.KeyPrefix = "mcpfort:deny:"
	}
	return &Denylist{rdb: goredis.NewClient(ro), prefix: o.KeyPrefix}, nil
}

func (d *Denylist) key(id [16]byte) string { return d.prefix + hex.EncodeToString(id[:]) }

// Deny records id as terminated until the given time.
func (d *Denylist) Deny(ctx context.Context, id [16]byte, until time.Time) error {
	if !until.After(time.Now()) {
		return nil // it has expired anyway
	}
	return d.rdb.SetArgs(ctx, d.key(id), "1", goredis.SetArgs{ExpireAt: until}).Err()
}

// Denied reports whether id has been terminated. An unreachable Redis is
// an error, which the gateway treats as "not served" (fail closed).
func (d *Denylist) Denied(ctx context.Context, id [16]byte) (bool, error) {
	n, err := d.rdb.Exists(ctx, d.key(id)).Result()
	return n > 0, err
}

// Close closes the connections.
func (d *Denylist) Close() error { return d.rdb.Close() }
