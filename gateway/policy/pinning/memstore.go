package pinning

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store in process memory: pins are lost on restart and
// not shared with other replicas or with "mcpfort tools approve". It suits
// a gateway whose pins all come from a pin file.
type MemoryStore struct {
	mu         sync.Mutex
	pins       map[[2]string]Pin
	candidates map[[3]string]Candidate
	servers    map[string]bool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{pins: map[[2]string]Pin{}, candidates: map[[3]string]Candidate{}, servers: map[string]bool{}}
}

// Pins implements Store.
func (m *MemoryStore) Pins(_ context.Context, server string) ([]Pin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Pin
	for k, p := range m.pins {
		if server == "" || k[0] == server {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Pin) int { return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Tool, b.Tool)) })
	return out, nil
}

func (m *MemoryStore) approve(p Pin) {
	if p.ApprovedAt.IsZero() {
		p.ApprovedAt = time.Now()
	}
	m.pins[[2]string{p.Server, p.Tool}] = p
	for k := range m.candidates {
		if k[0] == p.Server && k[1] == p.Tool {
			delete(m.candidates, k)
		}
	}
}

// Approve implements Store.
func (m *MemoryStore) Approve(_ context.Context, p Pin) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.approve(p)
	return nil
}

// Revoke implements Store.
func (m *MemoryStore) Revoke(_ context.Context, server, tool, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{server, tool}
	if _, ok := m.pins[k]; !ok {
		return ErrNotPinned
	}
	delete(m.pins, k)
	return nil
}

// Bootstrap implements Store.
func (m *MemoryStore) Bootstrap(_ context.Context, server string, pins []Pin) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.servers[server] {
		return false, nil
	}
	m.servers[server] = true
	for _, p := range pins {
		m.approve(p)
	}
	return true, nil
}

// Bootstrapped implements Store.
func (m *MemoryStore) Bootstrapped(_ context.Context, server string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.servers[server], nil
}

// AddCandidate implements Store.
func (m *MemoryStore) AddCandidate(_ context.Context, c Candidate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [3]string{c.Server, c.Tool, c.Hash}
	if old, ok := m.candidates[k]; ok {
		old.LastSeen = c.LastSeen
		m.candidates[k] = old
		return nil
	}
	m.candidates[k] = c
	return nil
}

// Candidates implements Store.
func (m *MemoryStore) Candidates(_ context.Context, server string) ([]Candidate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Candidate
	for k, c := range m.candidates {
		if server == "" || k[0] == server {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Tool, b.Tool))
	})
	return out, nil
}

// Close implements Store.
func (m *MemoryStore) Close() error { return nil }
