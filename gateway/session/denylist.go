package session

import (
	"context"
	"sync"
	"time"
)

// Denylist remembers terminated sessions until they would have expired, so
// that a deleted session id is answered with 404 (2025-11-25
// basic/transports "Session Management" item 3). Implementations must be
// safe for concurrent use.
type Denylist interface {
	Deny(ctx context.Context, id [16]byte, until time.Time) error
	Denied(ctx context.Context, id [16]byte) (bool, error)
}

// MemoryDenylist is a Denylist for one replica. The zero value is ready.
type MemoryDenylist struct {
	mu     sync.Mutex
	m      map[[16]byte]time.Time
	sweeps int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

var _ Denylist = (*MemoryDenylist)(nil)

func (d *MemoryDenylist) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Deny records id as terminated until the given time.
func (d *MemoryDenylist) Deny(_ context.Context, id [16]byte, until time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[[16]byte]time.Time)
	}
	d.m[id] = until
	// Sweep expired entries now and then: amortised O(1) per Deny.
	d.sweeps++
	if d.sweeps >= 64 && d.sweeps >= len(d.m) {
		d.sweeps = 0
		now := d.now()
		for k, t := range d.m {
			if !now.Before(t) {
				delete(d.m, k)
			}
		}
	}
	return nil
}

// Denied reports whether id has been terminated.
func (d *MemoryDenylist) Denied(_ context.Context, id [16]byte) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.m[id]
	return ok && d.now().Before(t), nil
}
