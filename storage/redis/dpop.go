package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DPoPReplayOptions configures a DPoPReplay.
type DPoPReplayOptions struct {
	// KeyPrefix namespaces the keys; replicas that must refuse each
	// other's replays share it. If empty, "mcpfort:dpop:".
	KeyPrefix string
	// Timeout bounds one round trip. If zero, 250ms.
	Timeout time.Duration
}

// DPoPReplay remembers DPoP proof identifiers in Redis for their
// acceptance window (RFC 9449 section 11.1), so that a proof used at one
// replica is a replay at every other. Each key is one SET NX with an
// absolute expiry (PXAT): the check and the record are one atomic step,
// and keys expire by themselves. It implements dpop.ReplayCache.
type DPoPReplay struct {
	rdb     *goredis.Client
	prefix  string
	timeout time.Duration
}

// NewDPoPReplay returns a DPoPReplay on rdb (see NewClient), which stays
// the caller's to close. It does not contact Redis.
func NewDPoPReplay(rdb *goredis.Client, o DPoPReplayOptions) *DPoPReplay {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "mcpfort:dpop:"
	}
	return &DPoPReplay{rdb: rdb, prefix: o.KeyPrefix, timeout: o.Timeout}
}

// Add records key until exp and reports whether it was new. The key is
// hashed: the proof's jti is chosen by the client and may be long. An
// unreachable Redis is an error, and the proof is then refused.
func (d *DPoPReplay) Add(ctx context.Context, key string, exp time.Time) (bool, error) {
	if !exp.After(time.Now()) {
		return true, nil // outside the window: the iat check refuses it anyway
	}
	sum := sha256.Sum256([]byte(key))
	ctx, cancel := bound(ctx, d.timeout)
	defer cancel()
	err := d.rdb.SetArgs(ctx, d.prefix+hex.EncodeToString(sum[:]), "1", goredis.SetArgs{Mode: "NX", ExpireAt: exp}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, goredis.Nil):
		return false, nil
	}
	return false, err
}
