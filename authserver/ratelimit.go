package authserver

import (
	"context"
	"sync"
	"time"
)

// RateLimiter counts events per key (a client IP) against a limit. The
// default is a per-process counter; replicas behind one load balancer
// each apply it separately unless the application supplies a limiter that
// keeps its counts in a shared store (Redis). Implementations must be safe
// for concurrent use. An error refuses the request (fail closed).
type RateLimiter interface {
	// Allow records one event for key and reports whether it is within
	// the limit.
	Allow(ctx context.Context, key string) (bool, error)
	// Exceeded reports, without recording, whether key is over the limit.
	Exceeded(ctx context.Context, key string) (bool, error)
}

var _ RateLimiter = (*limiter)(nil)

// Allow implements RateLimiter.
func (l *limiter) Allow(_ context.Context, key string) (bool, error) { return l.allow(key), nil }

// Exceeded implements RateLimiter.
func (l *limiter) Exceeded(_ context.Context, key string) (bool, error) { return l.blocked(key), nil }

// limiter is a fixed-window counter per key (a client IP): at most limit
// events per window. It keeps memory bounded by forgetting stale windows
// on sweep and by refusing new keys beyond maxKeys (which then share one
// overflow bucket), so an attacker with many addresses cannot exhaust
// memory. It is per process: replicas each apply the limit.
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	start time.Time
	n     int
}

const maxLimiterKeys = 100_000

func newLimiter(limit int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{limit: limit, window: window, now: now, buckets: map[string]*bucket{}}
}

// allow counts one event for key and reports whether it is within the
// limit.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiterKeys {
			key = "\x00overflow"
			if b = l.buckets[key]; b == nil {
				b = &bucket{start: now}
				l.buckets[key] = b
			}
		} else {
			b = &bucket{start: now}
			l.buckets[key] = b
		}
	}
	if now.Sub(b.start) >= l.window {
		b.start, b.n = now, 0
	}
	if b.n >= l.limit {
		return false
	}
	b.n++
	return true
}

// blocked reports whether key is currently over the limit, without counting.
func (l *limiter) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	return b != nil && l.now().Sub(b.start) < l.window && b.n >= l.limit
}

// sweep forgets windows that ended.
func (l *limiter) sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, b := range l.buckets {
		if now.Sub(b.start) >= l.window {
			delete(l.buckets, k)
		}
	}
}
