package authserver

import (
	"container/list"
	"context"
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/transport/clientip"
)

// Rate-limit windows and the prefixes that keep each limit's keys apart in
// a shared RateLimiter.
const (
	loginIPWindow   = time.Minute
	loginUserWindow = 5 * time.Minute
	regWindow       = time.Hour

	loginIPPrefix   = "login-ip:"
	loginUserPrefix = "login-user:"
	regPrefix       = "register:"
)

// initLimits sets up the sign-in and registration counters: the supplied
// RateLimiter, or one in-memory table per limit (so that flooding one
// cannot crowd out the others), and the password-check slots.
func (s *Server) initLimits() {
	mem := func() RateLimiter {
		if s.opts.RateLimiter != nil {
			return s.opts.RateLimiter
		}
		l := newMemLimiter(s.opts.Now)
		s.memLimiters = append(s.memLimiters, l)
		return l
	}
	s.loginIP, s.loginUser = mem(), mem()
	s.regLimiter = ipLimit{l: mem(), prefix: regPrefix, limit: s.opts.Registration.RateLimit, window: regWindow}
	s.hashSlots = make(chan struct{}, s.opts.MaxConcurrentPasswordHashes)
	s.verifyPassword = VerifyPassword
}

// ipLimit is one limit per client network through a RateLimiter.
type ipLimit struct {
	l      RateLimiter
	prefix string
	limit  int
	window time.Duration
}

// Allow counts one event for the client at ip and reports whether it is
// within the limit.
func (p ipLimit) Allow(ctx context.Context, ip string) (bool, error) {
	ok, _, err := p.l.Take(ctx, p.prefix+ipBucket(ip), p.limit, p.window)
	return ok, err
}

// ipBucket is the rate-limit key of a client address: the IPv4 address or
// the IPv6 /64 (clientip.Bucket). What does not parse as an address (a
// custom Options.ClientIP may return anything) is its own key.
func ipBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return clientip.Bucket(a).String()
}

// RateLimiter counts events per key in fixed windows. The default keeps
// its counts in process memory; replicas share limits only when the
// application supplies one backed by a shared store (storage/redis does).
// Implementations must be safe for concurrent use.
type RateLimiter interface {
	// Take counts one event against key before the action it limits, and
	// reports whether the key is still within limit events in its current
	// window (which its first event opened, window long). When it is not,
	// nothing is counted and retryAfter is how long until the window
	// ends. Counting first is what makes the limit hold against
	// concurrent requests. The server treats an error as a refusal (fail
	// closed).
	Take(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
	// Refund takes back one event that Take counted for key in its
	// current window, when the action it guarded turned out not to count
	// (a sign-in that succeeded, an attempt turned away before it was
	// evaluated).
	Refund(ctx context.Context, key string) error
}

// memLimiter is the per-process RateLimiter: a fixed-window counter per
// key in a table of at most max keys, so that an attacker with many
// addresses or usernames cannot exhaust memory. Keys are kept as 128-bit
// hashes (bounded size, no usernames held).
//
// When the table is full a new key needs room. Entries whose window ended
// go first; then the oldest entry that is not blocked (still below its
// limit) is evicted, which at worst lets that key start its count again,
// and only after an attacker spent one counted attempt per table slot to
// push it out. A blocked entry is never evicted: that would unblock it. If
// the oldest entries examined are all blocked, the new key is refused
// (fail closed) until windows end: an attacker who can block a whole table
// already holds that many keys at their limit.
type memLimiter struct {
	now func() time.Time
	max int // table capacity

	mu    sync.Mutex
	table map[[16]byte]*list.Element // of *bucket
	order list.List                  // buckets, oldest window first
}

type bucket struct {
	key    [16]byte
	start  time.Time
	window time.Duration
	limit  int
	n      int
}

func (b *bucket) ended(now time.Time) bool   { return !now.Before(b.start.Add(b.window)) }
func (b *bucket) blocked(now time.Time) bool { return b.n >= b.limit && !b.ended(now) }

// maxLimiterKeys is each in-memory table's capacity: about 200 bytes a
// key, 20 MB at most per table.
const maxLimiterKeys = 100_000

// evictScan bounds the work of finding room in a full table, so that a
// table of blocked entries costs a new key a few steps, not a full scan.
const evictScan = 64

var _ RateLimiter = (*memLimiter)(nil)

func newMemLimiter(now func() time.Time) *memLimiter {
	return &memLimiter{now: now, max: maxLimiterKeys, table: map[[16]byte]*list.Element{}}
}

func memKey(key string) [16]byte {
	sum := sha256.Sum256([]byte(key))
	return [16]byte(sum[:16])
}

// Take implements RateLimiter.
func (l *memLimiter) Take(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	k := memKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.table[k]
	if e == nil {
		if len(l.table) >= l.max && !l.makeRoom(now) {
			// Full of blocked keys: refuse until the oldest window ends.
			front := l.order.Front().Value.(*bucket)
			return false, max(front.start.Add(front.window).Sub(now), time.Second), nil
		}
		e = l.order.PushBack(&bucket{key: k, start: now, window: window, limit: limit})
		l.table[k] = e
	}
	b := e.Value.(*bucket)
	if b.ended(now) {
		b.start, b.window, b.limit, b.n = now, window, limit, 0
		l.order.MoveToBack(e)
	}
	if b.n >= b.limit {
		return false, b.start.Add(b.window).Sub(now), nil
	}
	b.n++
	return true, 0, nil
}

// Refund implements RateLimiter.
func (l *memLimiter) Refund(_ context.Context, key string) error {
	k := memKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.table[k]; e != nil {
		if b := e.Value.(*bucket); b.n > 0 && !b.ended(l.now()) {
			b.n--
		}
	}
	return nil
}

// makeRoom frees one slot of a full table, looking at no more than
// evictScan of the oldest entries: an ended window is dropped, a blocked
// entry is passed over (moved to the back), the first entry that is
// neither is evicted. It reports whether a slot was freed.
func (l *memLimiter) makeRoom(now time.Time) bool {
	for range evictScan {
		e := l.order.Front()
		if e == nil {
			return true
		}
		b := e.Value.(*bucket)
		if b.blocked(now) {
			l.order.MoveToBack(e)
			continue
		}
		l.order.Remove(e)
		delete(l.table, b.key)
		return true
	}
	return false
}

// len returns the number of keys held.
func (l *memLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.table)
}

// sweep forgets windows that ended.
func (l *memLimiter) sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for e := l.order.Front(); e != nil; {
		next := e.Next()
		if b := e.Value.(*bucket); b.ended(now) {
			l.order.Remove(e)
			delete(l.table, b.key)
		}
		e = next
	}
}
