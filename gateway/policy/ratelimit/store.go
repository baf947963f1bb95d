package ratelimit

import (
	"context"
	"time"
)

// Store keeps GCRA state (the "theoretical arrival time" of each bucket).
// Implementations must be safe for concurrent use, and several Stores that
// stand for the same shared state (replicas on one Redis) must behave as
// one.
type Store interface {
	// Take charges every bucket of takes, or none of them: the call is
	// allowed only if each bucket has room for its cost at now. Times and
	// durations are whole microseconds (the Limiter truncates them), so
	// every implementation computes exactly the same answers.
	Take(ctx context.Context, now time.Time, takes []Take) (Verdict, error)
}

// Take is one bucket charge.
type Take struct {
	// Key names the bucket. It is opaque binary and may be long (it
	// holds client-chosen tool names): stores bound what they keep (Local
	// hashes long keys; the Redis store hashes every key, which also keeps
	// identities out of Redis).
	Key string
	// Interval is the emission interval: the bucket's period divided by
	// its limit. At least one microsecond.
	Interval time.Duration
	// Burst is the bucket's capacity in cost units (at least 1).
	Burst int64
	// Cost is what this call costs (0 charges nothing).
	Cost int64
}

// Verdict is a Store's answer.
type Verdict struct {
	// Allowed reports whether every bucket had room; only then were they
	// charged.
	Allowed bool
	// Denied is the index of the first take that did not fit (when not
	// Allowed).
	Denied int
	// RetryAfter is how long until every bucket that refused would accept
	// the same call (zero when Allowed).
	RetryAfter time.Duration
}

// gcra applies the generic cell rate algorithm to one bucket whose stored
// theoretical arrival time is tat (0 for a new bucket), all in microseconds:
// the bucket admits a call when its new arrival time stays within burst
// intervals of now. It returns the arrival time to store, or how far over
// the limit the call is (over > 0 means refuse). The Redis script in package
// redisstore is the same computation, line for line.
func gcra(tat, now, interval, burst, cost int64) (newTAT, over int64) {
	if tat < now {
		tat = now
	}
	newTAT = tat + cost*interval
	over = newTAT - now - burst*interval
	return newTAT, over
}

// micros converts to whole microseconds.
func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }
