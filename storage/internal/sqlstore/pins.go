package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// Pins implements storage.PinStore.
func (s *Store) Pins(ctx context.Context, server string) ([]storage.Pin, error) {
	q := `SELECT server, tool, hash, definition, approved_at, approved_by FROM pinning_pins`
	var args []any
	if server != "" {
		q += ` WHERE server = $1`
		args = append(args, server)
	}
	rows, err := s.query(ctx, s.read, q+` ORDER BY server, tool`, args...)
	if err != nil {
		return nil, s.wrap("read pins", err)
	}
	defer rows.Close()
	var out []storage.Pin
	for rows.Next() {
		var p storage.Pin
		var at int64
		if err := rows.Scan(&p.Server, &p.Tool, &p.Hash, &p.Definition, &at, &p.ApprovedBy); err != nil {
			return nil, s.wrap("read pins", err)
		}
		p.ApprovedAt = time.UnixMilli(at).UTC()
		out = append(out, p)
	}
	return out, s.wrap("read pins", rows.Err())
}

func (s *Store) approvePinTx(ctx context.Context, tx *sql.Tx, p storage.Pin) error {
	if _, err := s.txExec(ctx, tx, `INSERT INTO pinning_pins (server, tool, hash, definition, approved_at, approved_by)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (server, tool) DO UPDATE SET hash = excluded.hash, definition = excluded.definition,
			approved_at = excluded.approved_at, approved_by = excluded.approved_by`,
		p.Server, p.Tool, p.Hash, p.Definition, p.ApprovedAt.UnixMilli(), p.ApprovedBy); err != nil {
		return err
	}
	if _, err := s.txExec(ctx, tx, `DELETE FROM pinning_candidates WHERE server = $1 AND tool = $2`, p.Server, p.Tool); err != nil {
		return err
	}
	_, err := s.txExec(ctx, tx, `INSERT INTO pinning_history (server, tool, hash, action, actor, at) VALUES ($1, $2, $3, 'approve', $4, $5)`,
		p.Server, p.Tool, p.Hash, p.ApprovedBy, p.ApprovedAt.UnixMilli())
	return err
}

// ApprovePin implements storage.PinStore.
func (s *Store) ApprovePin(ctx context.Context, p storage.Pin) error {
	return s.wrap("approve pin", s.tx(ctx, func(tx *sql.Tx) error { return s.approvePinTx(ctx, tx, p) }, nil))
}

// RevokePin implements storage.PinStore.
func (s *Store) RevokePin(ctx context.Context, server, tool, actor string, at time.Time) error {
	return s.wrap("revoke pin", s.tx(ctx, func(tx *sql.Tx) error {
		var hash string
		err := s.txQueryRow(ctx, tx, `SELECT hash FROM pinning_pins WHERE server = $1 AND tool = $2`+s.d.ForUpdate, server, tool).Scan(&hash)
		if err != nil {
			return err // sql.ErrNoRows: wrapped as storage.ErrNotFound
		}
		if _, err := s.txExec(ctx, tx, `DELETE FROM pinning_pins WHERE server = $1 AND tool = $2`, server, tool); err != nil {
			return err
		}
		_, err = s.txExec(ctx, tx, `INSERT INTO pinning_history (server, tool, hash, action, actor, at) VALUES ($1, $2, $3, 'revoke', $4, $5)`,
			server, tool, hash, actor, at.UnixMilli())
		return err
	}, nil))
}

// BootstrapPins implements storage.PinStore. The insert into
// pinning_servers is the arbiter: of two replicas bootstrapping at once,
// one inserts, the other conflicts and pins nothing.
func (s *Store) BootstrapPins(ctx context.Context, server string, pins []storage.Pin, at time.Time) (bool, error) {
	for _, p := range pins {
		if p.Server != server {
			return false, fmt.Errorf("%s: pin of server %q in the bootstrap of %q", s.d.Name, p.Server, server)
		}
	}
	did := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		n, err := affected(s.txExec(ctx, tx, `INSERT INTO pinning_servers (server, bootstrapped_at) VALUES ($1, $2) ON CONFLICT (server) DO NOTHING`,
			server, at.UnixMilli()))
		if err != nil || n == 0 {
			return err
		}
		did = true
		for _, p := range pins {
			if err := s.approvePinTx(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return false, s.wrap("bootstrap pins", err)
	}
	return did, nil
}

// PinsBootstrapped implements storage.PinStore.
func (s *Store) PinsBootstrapped(ctx context.Context, server string) (bool, error) {
	var n int
	err := s.queryRow(ctx, s.read, `SELECT COUNT(*) FROM pinning_servers WHERE server = $1`, server).Scan(&n)
	return n > 0, s.wrap("read pinned servers", err)
}

// AddPinCandidate implements storage.PinStore.
func (s *Store) AddPinCandidate(ctx context.Context, c storage.PinCandidate) error {
	if c.Definition == nil {
		c.Definition = []byte{} // the column is NOT NULL
	}
	_, err := s.exec(ctx, s.write, `INSERT INTO pinning_candidates (server, tool, hash, definition, findings, first_seen, last_seen)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (server, tool, hash) DO UPDATE SET last_seen = excluded.last_seen`,
		c.Server, c.Tool, c.Hash, c.Definition, string(c.Findings), c.FirstSeen.UnixMilli(), c.LastSeen.UnixMilli())
	return s.wrap("add pin candidate", err)
}

// PinCandidates implements storage.PinStore.
func (s *Store) PinCandidates(ctx context.Context, server string) ([]storage.PinCandidate, error) {
	q := `SELECT server, tool, hash, definition, findings, first_seen, last_seen FROM pinning_candidates`
	var args []any
	if server != "" {
		q += ` WHERE server = $1`
		args = append(args, server)
	}
	rows, err := s.query(ctx, s.read, q+` ORDER BY last_seen DESC, server, tool`, args...)
	if err != nil {
		return nil, s.wrap("read pin candidates", err)
	}
	defer rows.Close()
	var out []storage.PinCandidate
	for rows.Next() {
		var c storage.PinCandidate
		var findings string
		var first, last int64
		if err := rows.Scan(&c.Server, &c.Tool, &c.Hash, &c.Definition, &findings, &first, &last); err != nil {
			return nil, s.wrap("read pin candidates", err)
		}
		c.Findings = []byte(findings)
		c.FirstSeen, c.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, c)
	}
	return out, s.wrap("read pin candidates", rows.Err())
}
