package ratelimit

import (
	"context"
	"crypto/sha256"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LocalOptions configures a Local store.
type LocalOptions struct {
	// MaxKeys bounds the buckets kept in memory. A bucket is forgotten as
	// soon as it is full again (its state equals a new bucket's); when the
	// bound is reached with every bucket still draining, the one closest to
	// full among a few sampled is evicted and counted (Evictions), which
	// errs on the caller's side by at most that bucket's remaining debt.
	// If zero, 1<<20 (about 100 MB at worst).
	MaxKeys int
}

const localShards = 64

// maxLocalKey is the longest key kept as is; longer ones (a client-chosen
// tool name can be long) are kept as a hash.
const maxLocalKey = 256

// Local is the in-memory Store: the embedded default for one replica. Its
// zero value is not usable; call NewLocal. Several Limiters (one per route)
// may share one Local, so that rules without the "server" dimension span
// routes.
type Local struct {
	seed      maphash.Seed
	perShard  int
	shards    [localShards]localShard
	evictions atomic.Uint64
}

type localShard struct {
	mu sync.Mutex
	m  map[string]int64 // bucket key -> theoretical arrival time, in µs
}

var _ Store = (*Local)(nil)

// NewLocal returns an empty Local store.
func NewLocal(opts LocalOptions) (*Local, error) {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	l := &Local{seed: maphash.MakeSeed(), perShard: max(1, opts.MaxKeys/localShards)}
	for i := range l.shards {
		l.shards[i].m = make(map[string]int64)
	}
	return l, nil
}

// Take implements Store. The buckets of one call are updated under the
// locks of their shards, taken in shard order, so a multi-bucket call is
// atomic with respect to every other call.
func (l *Local) Take(_ context.Context, now time.Time, takes []Take) (Verdict, error) {
	var idx [8]int
	shards := idx[:0]
	var kbuf [8]string
	keys := kbuf[:0]
	for _, t := range takes {
		k := t.Key
		if len(k) > maxLocalKey {
			sum := sha256.Sum256([]byte(k))
			k = string(sum[:16])
		}
		keys = append(keys, k)
		shards = append(shards, int(maphash.String(l.seed, k)%localShards))
	}
	// Lock each shard once, in ascending order, to rule out deadlocks
	// between calls that share shards.
	var obuf [8]int
	order := obuf[:0]
	for _, s := range shards {
		if !slices.Contains(order, s) {
			order = append(order, s)
		}
	}
	slices.Sort(order)
	for _, s := range order {
		l.shards[s].mu.Lock()
	}
	defer func() {
		for _, s := range order {
			l.shards[s].mu.Unlock()
		}
	}()

	nowUS := now.UnixMicro()
	var tats [8]int64
	newTATs := tats[:0]
	v := Verdict{Allowed: true}
	for i, t := range takes {
		sh := &l.shards[shards[i]]
		nt, over := gcra(sh.m[keys[i]], nowUS, micros(t.Interval), t.Burst, t.Cost)
		if over > 0 {
			if v.Allowed {
				v.Allowed, v.Denied = false, i
			}
			v.RetryAfter = max(v.RetryAfter, time.Duration(over)*time.Microsecond)
		}
		newTATs = append(newTATs, nt)
	}
	if !v.Allowed {
		return v, nil
	}
	for i, k := range keys {
		sh := &l.shards[shards[i]]
		if newTATs[i] <= nowUS {
			// A bucket charged nothing and already full: keeping it would
			// only waste memory.
			delete(sh.m, k)
			continue
		}
		if _, ok := sh.m[k]; !ok && len(sh.m) >= l.perShard {
			l.makeRoom(sh, nowUS)
		}
		sh.m[k] = newTATs[i]
	}
	return v, nil
}

// makeRoom frees one slot of a full shard: first every bucket that is full
// again, then, if none was, the sampled bucket closest to full.
func (l *Local) makeRoom(sh *localShard, now int64) {
	for k, tat := range sh.m {
		if tat <= now {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < l.perShard {
		return
	}
	victim, best, n := "", int64(0), 0
	for k, tat := range sh.m { // map order is random: a cheap sample
		if n == 0 || tat < best {
			victim, best = k, tat
		}
		if n++; n == 8 {
			break
		}
	}
	delete(sh.m, victim)
	l.evictions.Add(1)
}

// Len returns the number of buckets held.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].m)
		l.shards[i].mu.Unlock()
	}
	return n
}

// Evictions returns how many draining buckets were evicted to respect
// MaxKeys.
func (l *Local) Evictions() uint64 { return l.evictions.Load() }
