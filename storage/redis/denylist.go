package redis

import (
	"context"
	"encoding/hex"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DenylistOptions configures a Denylist.
type DenylistOptions struct {
	// KeyPrefix namespaces the keys. If empty, "mcpfort:deny:".
	KeyPrefix string
	// Timeout bounds one round trip. If zero, 250ms.
	Timeout time.Duration
}

// Denylist remembers terminated sessions in Redis until they would have
// expired; keys expire by themselves (PXAT), so the set never grows past
// the sessions still alive. It implements the gateway's session.Denylist.
type Denylist struct {
	rdb     *goredis.Client
	prefix  string
	timeout time.Duration
}

// NewDenylist returns a Denylist on rdb (see NewClient), which stays the
// caller's to close. It does not contact Redis.
func NewDenylist(rdb *goredis.Client, o DenylistOptions) *Denylist {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "mcpfort:deny:"
	}
	return &Denylist{rdb: rdb, prefix: o.KeyPrefix, timeout: o.Timeout}
}

func (d *Denylist) key(id [16]byte) string { return d.prefix + hex.EncodeToString(id[:]) }

// Deny records id as terminated until the given time.
func (d *Denylist) Deny(ctx context.Context, id [16]byte, until time.Time) error {
	if !until.After(time.Now()) {
		return nil // it has expired anyway
	}
	ctx, cancel := bound(ctx, d.timeout)
	defer cancel()
	return d.rdb.SetArgs(ctx, d.key(id), "1", goredis.SetArgs{ExpireAt: until}).Err()
}

// Denied reports whether id has been terminated. An unreachable Redis is
// an error, which the gateway treats as "not served" (fail closed).
func (d *Denylist) Denied(ctx context.Context, id [16]byte) (bool, error) {
	ctx, cancel := bound(ctx, d.timeout)
	defer cancel()
	n, err := d.rdb.Exists(ctx, d.key(id)).Result()
	return n > 0, err
}
