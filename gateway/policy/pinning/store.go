package pinning

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/sqldb"
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

//go:embed migrations
var migrations embed.FS

// SQLStore is the Store in SQLite or PostgreSQL.
type SQLStore struct {
	db *sqldb.DB
}

var _ Store = (*SQLStore)(nil)

// OpenStore opens (creating and migrating) the pin store in database:
// "sqlite" (the file mcpfort.db in dir, shared with the rest of mcpfort),
// "sqlite:PATH", or a "postgres://" URL.
func OpenStore(ctx context.Context, database, dir string) (*SQLStore, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	db, err := sqldb.Open(ctx, sqldb.Options{Database: database, Dir: dir, Name: "pinning", Migrations: sub})
	if err != nil {
		return nil, fmt.Errorf("pinning: %w", err)
	}
	return &SQLStore{db: db}, nil
}

// Close implements Store.
func (s *SQLStore) Close() error { return s.db.Close() }

// Pins implements Store.
func (s *SQLStore) Pins(ctx context.Context, server string) ([]Pin, error) {
	q := `SELECT server, tool, hash, definition, approved_at, approved_by FROM pinning_pins`
	var args []any
	if server != "" {
		q += ` WHERE server = $1`
		args = append(args, server)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY server, tool`, args...)
	if err != nil {
		return nil, fmt.Errorf("pinning: read pins: %w", err)
	}
	defer rows.Close()
	var out []Pin
	for rows.Next() {
		var p Pin
		var at int64
		if err := rows.Scan(&p.Server, &p.Tool, &p.Hash, &p.Definition, &at, &p.ApprovedBy); err != nil {
			return nil, fmt.Errorf("pinning: read pins: %w", err)
		}
		p.ApprovedAt = time.UnixMilli(at).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *SQLStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func approveTx(ctx context.Context, tx *sql.Tx, p Pin) error {
	if p.ApprovedAt.IsZero() {
		p.ApprovedAt = time.Now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pinning_pins (server, tool, hash, definition, approved_at, approved_by)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (server, tool) DO UPDATE SET hash = excluded.hash, definition = excluded.definition,
			approved_at = excluded.approved_at, approved_by = excluded.approved_by`,
		p.Server, p.Tool, p.Hash, p.Definition, p.ApprovedAt.UnixMilli(), p.ApprovedBy); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pinning_candidates WHERE server = $1 AND tool = $2`, p.Server, p.Tool); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO pinning_history (server, tool, hash, action, actor, at) VALUES ($1, $2, $3, 'approve', $4, $5)`,
		p.Server, p.Tool, p.Hash, p.ApprovedBy, p.ApprovedAt.UnixMilli())
	return err
}

// Approve implements Store.
func (s *SQLStore) Approve(ctx context.Context, p Pin) error {
	if p.Server == "" || p.Tool == "" || !validHash(p.Hash) {
		return errors.New("pinning: a pin needs a server, a tool and a valid hash")
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return approveTx(ctx, tx, p) }); err != nil {
		return fmt.Errorf("pinning: approve: %w", err)
	}
	return nil
}

// ErrNotPinned reports a revocation of a tool that has no pin.
var ErrNotPinned = errors.New("pinning: tool is not pinned")

// Revoke implements Store.
func (s *SQLStore) Revoke(ctx context.Context, server, tool, actor string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var hash string
		err := tx.QueryRowContext(ctx, `SELECT hash FROM pinning_pins WHERE server = $1 AND tool = $2`, server, tool).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotPinned
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM pinning_pins WHERE server = $1 AND tool = $2`, server, tool); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO pinning_history (server, tool, hash, action, actor, at) VALUES ($1, $2, $3, 'revoke', $4, $5)`,
			server, tool, hash, actor, time.Now().UnixMilli())
		return err
	})
	if errors.Is(err, ErrNotPinned) {
		return err
	}
	if err != nil {
		return fmt.Errorf("pinning: revoke: %w", err)
	}
	return nil
}

// Bootstrap implements Store. The insert into pinning_servers is the
// arbiter: of two replicas bootstrapping at once, one inserts, the other
// conflicts and pins nothing.
func (s *SQLStore) Bootstrap(ctx context.Context, server string, pins []Pin) (bool, error) {
	did := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO pinning_servers (server, bootstrapped_at) VALUES ($1, $2) ON CONFLICT (server) DO NOTHING`,
			server, time.Now().UnixMilli())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		did = true
		for _, p := range pins {
			if p.Server != server {
				return fmt.Errorf("pin of server %q in the bootstrap of %q", p.Server, server)
			}
			if err := approveTx(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("pinning: bootstrap: %w", err)
	}
	return did, nil
}

// Bootstrapped implements Store.
func (s *SQLStore) Bootstrapped(ctx context.Context, server string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pinning_servers WHERE server = $1`, server).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("pinning: read servers: %w", err)
	}
	return n > 0, nil
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
	_, err = s.db.ExecContext(ctx, `INSERT INTO pinning_candidates (server, tool, hash, definition, findings, first_seen, last_seen)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (server, tool, hash) DO UPDATE SET last_seen = excluded.last_seen`,
		c.Server, c.Tool, c.Hash, c.Definition, string(findings), c.FirstSeen.UnixMilli(), c.LastSeen.UnixMilli())
	if err != nil {
		return fmt.Errorf("pinning: record candidate: %w", err)
	}
	return nil
}

// Candidates implements Store.
func (s *SQLStore) Candidates(ctx context.Context, server string) ([]Candidate, error) {
	q := `SELECT server, tool, hash, definition, findings, first_seen, last_seen FROM pinning_candidates`
	var args []any
	if server != "" {
		q += ` WHERE server = $1`
		args = append(args, server)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY last_seen DESC, server, tool`, args...)
	if err != nil {
		return nil, fmt.Errorf("pinning: read candidates: %w", err)
	}
	defer rows.Close()
	var out []Candidate
	for rows.Next() {
		var c Candidate
		var findings string
		var first, last int64
		if err := rows.Scan(&c.Server, &c.Tool, &c.Hash, &c.Definition, &findings, &first, &last); err != nil {
			return nil, fmt.Errorf("pinning: read candidates: %w", err)
		}
		if err := json.Unmarshal([]byte(findings), &c.Findings); err != nil {
			return nil, fmt.Errorf("pinning: read candidates: findings: %w", err)
		}
		c.FirstSeen, c.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
