package auditnote

import (
	"context"
	"strings"
	"sync"
)

type ctxKey struct{}

// Notes collects the reasons policies give while one call is served. It is
// safe for concurrent use (a reply may be read on another goroutine than
// the one that made the call).
type Notes struct {
	mu   sync.Mutex
	list []string
}

// With returns a context carrying a fresh Notes.
func With(ctx context.Context) (context.Context, *Notes) {
	n := &Notes{}
	return context.WithValue(ctx, ctxKey{}, n), n
}

// Add records that policy acted on the call, and why. Repeated notes are
// kept once.
func Add(ctx context.Context, policy, note string) {
	n, _ := ctx.Value(ctxKey{}).(*Notes)
	if n == nil {
		return
	}
	add(n, policy+": "+note)
}

func add(n *Notes, s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, have := range n.list {
		if have == s {
			return
		}
	}
	if len(n.list) < 16 {
		n.list = append(n.list, s)
	}
}

// String joins the notes with "; " ("" when there are none).
func (n *Notes) String() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.list, "; ")
}

// Add records a note on n directly (a reply read after the call returned).
func (n *Notes) Add(policy, note string) {
	if n == nil {
		return
	}
	add(n, policy+": "+note)
}
