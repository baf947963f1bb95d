package authserver

import (
	"context"
	"fmt"
	"testing"
	"time"
)

var _ RateLimiter = (*memLimiter)(nil)

// fillLoginIPTable shrinks the per-address sign-in table to 500 keys and
// fills it, with addresses at one attempt or, if blocked, at their limit.
// It returns the capacity.
func fillLoginIPTable(t *testing.T, e *env, blocked bool) int {
	t.Helper()
	l := e.srv.loginIP.(*memLimiter)
	l.max = 500
	n := 1
	if blocked {
		n = e.srv.opts.LoginRateLimit
	}
	for i := 0; l.len() < l.max; i++ {
		for range n {
			l.Take(context.Background(), loginIPPrefix+ipBucket(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)), e.srv.opts.LoginRateLimit, time.Minute)
		}
	}
	return l.max
}

func loginIPTableLen(e *env) int { return e.srv.loginIP.(*memLimiter).len() }
