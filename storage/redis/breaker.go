package redis

import (
	"context"
	"errors"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrCircuitOpen is returned without contacting Redis while the client's
// circuit breaker is open: Redis failed several times in a row, so every
// user fails at once (and applies its own rule: fail closed, or open where
// configured) instead of each waiting out a timeout.
var ErrCircuitOpen = errors.New("redis: unavailable (circuit open)")

// breaker is a go-redis hook that stops sending commands to a Redis that
// keeps failing. Closed, every command goes through; after threshold
// consecutive failures (no answer: a timeout, a refused or broken
// connection) it opens for cooldown, and commands fail at once with
// ErrCircuitOpen; then one command goes through as a probe, and its
// outcome closes the breaker or opens it again. An answer from Redis, even
// an error answer or a nil, counts as success.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	failures int
	openTill time.Time // zero: closed
	probing  bool
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	if threshold <= 0 {
		threshold = 3
	}
	if cooldown <= 0 {
		cooldown = time.Second
	}
	return &breaker{threshold: threshold, cooldown: cooldown, now: time.Now}
}

// allow reports whether a command may go to Redis now; probe is true for
// the one command let through after a cooldown.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openTill.IsZero():
		return true, false
	case b.probing || b.now().Before(b.openTill):
		return false, false
	}
	b.probing = true
	return true, true
}

// done records a command's outcome.
func (b *breaker) done(err error, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if !unreachable(err) {
		b.failures, b.openTill = 0, time.Time{}
		return
	}
	b.failures++
	if probe || b.failures >= b.threshold {
		b.openTill = b.now().Add(b.cooldown)
	}
}

// unreachable reports whether err means Redis did not answer. Redis's own
// error replies, a nil reply and a caller's cancellation do not.
func unreachable(err error) bool {
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var reply goredis.Error
	return !errors.As(err, &reply)
}

func (b *breaker) DialHook(next goredis.DialHook) goredis.DialHook { return next }

// passKey marks the context of a command the breaker let through: the
// commands go-redis issues on its behalf (a new connection's handshake)
// belong to it, and are neither gated nor counted on their own.
type passKey struct{}

func (b *breaker) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if ctx.Value(passKey{}) != nil {
			return next(ctx, cmd)
		}
		ok, probe := b.allow()
		if !ok {
			cmd.SetErr(ErrCircuitOpen)
			return ErrCircuitOpen
		}
		err := next(context.WithValue(ctx, passKey{}, true), cmd)
		b.done(err, probe)
		return err
	}
}

func (b *breaker) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if ctx.Value(passKey{}) != nil {
			return next(ctx, cmds)
		}
		ok, probe := b.allow()
		if !ok {
			for _, c := range cmds {
				c.SetErr(ErrCircuitOpen)
			}
			return ErrCircuitOpen
		}
		err := next(context.WithValue(ctx, passKey{}, true), cmds)
		b.done(err, probe)
		return err
	}
}
