package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
)

// Options configures a Store.
type Options struct {
	// KeyPrefix starts every key. If empty, "mcpfort:rl:". Replicas that
	// share limits must use the same prefix.
	KeyPrefix string
}

// Store is a ratelimit.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb    *redis.Client
	prefix string
}

var _ ratelimit.Store = (*Store)(nil)

// New returns a Store on rdb, the process's Redis client, which stays the
// caller's to close. rdb must not retry failed commands: a script whose
// reply was lost may have run, and retrying it could charge a bucket
// twice. Each call is bounded by its context (the Limiter's Timeout). New
// does not contact Redis: an unreachable Redis shows up as errors from
// Take, which the Limiter fails open or closed on as configured.
func New(rdb *redis.Client, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: a Redis client is required")
	}
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = "mcpfort:rl:"
	}
	return &Store{rdb: rdb, prefix: prefix}, nil
}

// Ping checks that Redis answers (for readiness probes).
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// takeScript is ratelimit's gcra over every bucket of one call: it reads
// all the arrival times, decides, and only if every bucket fits, stores the
// new times with an expiry at the moment each bucket is full again.
// ARGV[1] is now; then interval, burst and cost per key, all integers (µs).
// It returns {allowed, index of the first refusing key, µs to wait}.
// Lua numbers are doubles: microsecond Unix times (about 2^51) and the
// limits New accepts stay well inside their 2^53 exact-integer range.
var takeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local tats = redis.call('MGET', unpack(KEYS))
local new = {}
local ok, first, wait = 1, 0, 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[i*3-1])
  local burst = tonumber(ARGV[i*3])
  local cost = tonumber(ARGV[i*3+1])
  local tat = now
  if tats[i] then tat = tonumber(tats[i]) end
  if tat < now then tat = now end
  local nt = tat + cost * interval
  local over = nt - now - burst * interval
  if over > 0 then
    if ok == 1 then ok, first = 0, i - 1 end
    if over > wait then wait = over end
  end
  new[i] = nt
end
if ok == 0 then return {0, first, wait} end
for i = 1, #KEYS do
  local ttl = new[i] - now
  if ttl > 0 then
    redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', math.ceil(ttl / 1000))
  else
    redis.call('DEL', KEYS[i])
  end
end
return {1, 0, 0}
`)

// Take implements ratelimit.Store.
func (s *Store) Take(ctx context.Context, now time.Time, takes []ratelimit.Take) (ratelimit.Verdict, error) {
	keys := make([]string, len(takes))
	args := make([]any, 1, 1+3*len(takes))
	args[0] = strconv.FormatInt(now.UnixMicro(), 10)
	for i, t := range takes {
		// Hashed: bounded length, and no identities stored in Redis.
		sum := sha256.Sum256([]byte(t.Key))
		keys[i] = s.prefix + hex.EncodeToString(sum[:16])
		args = append(args,
			strconv.FormatInt(int64(t.Interval/time.Microsecond), 10),
			strconv.FormatInt(t.Burst, 10),
			strconv.FormatInt(t.Cost, 10))
	}
	res, err := takeScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return ratelimit.Verdict{}, fmt.Errorf("redisstore: %w", err)
	}
	if len(res) != 3 {
		return ratelimit.Verdict{}, fmt.Errorf("redisstore: unexpected script reply of %d values", len(res))
	}
	if res[0] == 1 {
		return ratelimit.Verdict{Allowed: true}, nil
	}
	return ratelimit.Verdict{Denied: int(res[1]), RetryAfter: time.Duration(res[2]) * time.Microsecond}, nil
}
