package pinning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// Who approved a pin.
const (
	ApprovedByOperator = "operator"
	ApprovedByTOFU     = "trust-on-first-use"
	ApprovedByPinFile  = "pin-file"
)

// Pin is one approved tool definition.
type Pin struct {
	Server, Tool string
	// Hash is the approved definition's hash (HashPrefix and hex).
	Hash string
	// Definition is the canonical definition, when known (a pin file
	// carries only hashes).
	Definition []byte
	ApprovedAt time.Time
	// ApprovedBy is ApprovedByOperator (or the operator's name),
	// ApprovedByTOFU or ApprovedByPinFile.
	ApprovedBy string
}

// Candidate is a definition seen upstream and not approved.
type Candidate struct {
	Server, Tool, Hash string
	Definition         []byte
	Findings           []Finding
	FirstSeen          time.Time
	LastSeen           time.Time
}

// Store keeps pins and candidates. Implementations must be safe for
// concurrent use, and shared by the replicas that serve the same servers.
type Store interface {
	// Pins lists the pins of server, or of every server when server is "".
	Pins(ctx context.Context, server string) ([]Pin, error)
	// Approve pins p (replacing the tool's previous pin) and forgets the
	// tool's candidates.
	Approve(ctx context.Context, p Pin) error
	// Revoke removes the pin of a tool; the tool is quarantined again.
	Revoke(ctx context.Context, server, tool, actor string) error
	// Bootstrap pins every one of pins, all of one server, if and only if
	// that server was never bootstrapped; it reports whether it did. It is
	// how trust on first use happens once across replicas.
	Bootstrap(ctx context.Context, server string, pins []Pin) (bool, error)
	// Bootstrapped reports whether Bootstrap ran for server.
	Bootstrapped(ctx context.Context, server string) (bool, error)
	// AddCandidate records a definition seen upstream, or refreshes when
	// it was last seen.
	AddCandidate(ctx context.Context, c Candidate) error
	// Candidates lists the candidates of server (every server if ""),
	// most recently seen first.
	Candidates(ctx context.Context, server string) ([]Candidate, error)
	// Close releases the store.
	Close() error
}

// SQLStore is the Store on the state database (storage.PinStore, SQLite
// or PostgreSQL), shared by the replicas that use that database.
type SQLStore struct {
	db storage.PinStore
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns the pin store kept in db. The caller owns db and
// closes it after the last use of the SQLStore.
func NewSQLStore(db storage.PinStore) *SQLStore { return &SQLStore{db: db} }

// Close implements Store. It does nothing: the database is the caller's.
func (s *SQLStore) Close() error { return nil }

// Pins implements Store.
func (s *SQLStore) Pins(ctx context.Context, server string) ([]Pin, error) {
	ps, err := s.db.Pins(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("pinning: read pins: %w", err)
	}
	out := make([]Pin, len(ps))
	for i, p := range ps {
		out[i] = Pin(p)
	}
	return out, nil
}

func toStorage(p Pin) storage.Pin {
	if p.ApprovedAt.IsZero() {
		p.ApprovedAt = time.Now()
	}
	return storage.Pin(p)
}

// Approve implements Store.
func (s *SQLStore) Approve(ctx context.Context, p Pin) error {
	if p.Server == "" || p.Tool == "" || !validHash(p.Hash) {
		return errors.New("pinning: a pin needs a server, a tool and a valid hash")
	}
	if err := s.db.ApprovePin(ctx, toStorage(p)); err != nil {
		return fmt.Errorf("pinning: approve: %w", err)
	}
	return nil
}

// ErrNotPinned reports a revocation of a tool that has no pin.
var ErrNotPinned = errors.New("pinning: tool is not pinned")

// Revoke implements Store.
func (s *SQLStore) Revoke(ctx context.Context, server, tool, actor string) error {
	err := s.db.RevokePin(ctx, server, tool, actor, time.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotPinned
	}
	if err != nil {
		return fmt.Errorf("pinning: revoke: %w", err)
	}
	return nil
}

// Bootstrap implements Store.
func (s *SQLStore) Bootstrap(ctx context.Context, server string, pins []Pin) (bool, error) {
	sp := make([]storage.Pin, len(pins))
	for i, p := range pins {
		sp[i] = toStorage(p)
	}
	did, err := s.db.BootstrapPins(ctx, server, sp, time.Now())
	if err != nil {
		return false, fmt.Errorf("pinning: bootstrap: %w", err)
	}
	return did, nil
}

// Bootstrapped implements Store.
func (s *SQLStore) Bootstrapped(ctx context.Context, server string) (bool, error) {
	ok, err := s.db.PinsBootstrapped(ctx, server)
	if err != nil {
		return false, fmt.Errorf("pinning: read servers: %w", err)
	}
	return ok, nil
}

// AddCandidate implements Store.
func (s *SQLStore) AddCandidate(ctx context.Context, c Candidate) error {
	findings, err := json.Marshal(c.Findings)
	if err != nil {
		return err
	}
	if c.FirstSeen.IsZero() {
		c.FirstSeen = time.Now()
	}
	if c.LastSeen.IsZero() {
		c.LastSeen = c.FirstSeen
	}
	err = s.db.AddPinCandidate(ctx, storage.PinCandidate{Server: c.Server, Tool: c.Tool, Hash: c.Hash, Definition: c.Definition,
		Findings: findings, FirstSeen: c.FirstSeen, LastSeen: c.LastSeen})
	if err != nil {
		return fmt.Errorf("pinning: record candidate: %w", err)
	}
	return nil
}

// Candidates implements Store.
func (s *SQLStore) Candidates(ctx context.Context, server string) ([]Candidate, error) {
	cs, err := s.db.PinCandidates(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("pinning: read candidates: %w", err)
	}
	out := make([]Candidate, len(cs))
	for i, c := range cs {
		out[i] = Candidate{Server: c.Server, Tool: c.Tool, Hash: c.Hash, Definition: c.Definition, FirstSeen: c.FirstSeen, LastSeen: c.LastSeen}
		if err := json.Unmarshal(c.Findings, &out[i].Findings); err != nil {
			return nil, fmt.Errorf("pinning: read candidates: findings: %w", err)
		}
	}
	return out, nil
}
