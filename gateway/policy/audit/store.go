package audit

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// StoreOptions configures NewStore.
type StoreOptions struct {
	// Key, if set, keys the chain: record hashes are HMAC-SHA256 under it,
	// so that someone who can write the database but not read the key
	// cannot forge a consistent chain after an edit. Verification needs the
	// same key. Keep it outside the database (a file in the state
	// directory, a secret manager). At least 32 bytes.
	Key []byte
}

// Store is the audit log on the state database (storage.AuditStore,
// SQLite or PostgreSQL): it chains and hashes records, the database keeps
// them. It is safe for concurrent use, and several replicas may append to
// one PostgreSQL database.
type Store struct {
	db  storage.AuditStore
	key []byte
}

// NewStore returns the audit log kept in db. The caller owns db and closes
// it after the last use of the Store.
func NewStore(db storage.AuditStore, opts StoreOptions) (*Store, error) {
	if len(opts.Key) > 0 && len(opts.Key) < 32 {
		return nil, errors.New("audit: the chain key must hold at least 32 bytes")
	}
	return &Store{db: db, key: opts.Key}, nil
}

// Append chains and writes recs in one transaction, after the current
// head, and moves the head to the last of them. It fills in each record's
// Seq, PrevHash and Hash. A record whose AnswerKey the log already holds
// (or an earlier record of recs does) is left out: its Seq stays 0.
func (s *Store) Append(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	var keys []string
	for i := range recs {
		recs[i].sanitize()
		if k := recs[i].AnswerKey; k != "" {
			keys = append(keys, k)
		}
	}
	err := s.db.AppendAudit(ctx, keys, func(head storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
		seq, prev := head.Seq, head.Hash
		rows := make([]storage.AuditRow, 0, len(recs))
		h := newHasher(s.key)
		canon := make([]byte, 0, 1024) // one buffer for every record's canonical form
		for i := range recs {
			r := &recs[i]
			if k := r.AnswerKey; k != "" {
				if taken[k] {
					r.Seq, r.PrevHash, r.Hash = 0, "", ""
					continue
				}
				if taken == nil {
					taken = map[string]bool{}
				}
				taken[k] = true
			}
			seq++
			r.Seq, r.PrevHash = seq, prev
			canon = appendCanonical(canon[:0], r)
			r.Hash = h.sum(canon)
			rows = append(rows, storage.AuditRow{Seq: r.Seq, TimeUS: r.Time.UnixMicro(), Record: string(canon), Hash: r.Hash, Key: r.AnswerKey})
			prev = r.Hash
		}
		return rows, nil
	})
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

// Head is the chain head: the sequence number and hash of the last record
// appended (0 and "" for an empty log).
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Head reads the chain head.
func (s *Store) Head(ctx context.Context) (Head, error) {
	h, err := s.db.AuditHead(ctx)
	if err != nil {
		return Head{}, fmt.Errorf("audit: read chain head: %w", err)
	}
	return Head{Seq: h.Seq, Hash: h.Hash}, nil
}

// CheckKey checks, before the log appends under key, that the chain's
// last record is not keyed with another key (or keyed while key is nil):
// replicas sharing a database must share the chain key, and a lost key
// must not be silently replaced, or the chain could no longer be
// verified. It returns the chain head.
func (s *Store) CheckKey(ctx context.Context, key []byte) (Head, error) {
	h, err := s.Head(ctx)
	if err != nil || h.Seq == 0 {
		return h, err
	}
	last, err := s.db.AuditRow(ctx, h.Seq)
	record, hash := last.Record, last.Hash
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return h, nil // Verify reports the missing tail
	case err != nil:
		return h, fmt.Errorf("audit: read last record: %w", err)
	case !strings.HasPrefix(hash, prefixHMAC):
		return h, nil
	case len(key) == 0:
		return h, fmt.Errorf("audit: the chain is keyed (record %d), but no chain key was given", h.Seq)
	case !hmac.Equal([]byte(hashBytes([]byte(record), key)), []byte(hash)):
		return h, fmt.Errorf("audit: the chain's last record (%d) is not keyed with this chain key: every replica sharing the database must use the same key", h.Seq)
	}
	return h, nil
}

// Filter selects records.
type Filter struct {
	// Since and Until bound the record time (zero: unbounded); Until is
	// exclusive.
	Since, Until time.Time
	// FromSeq starts at this sequence number (zero: the first).
	FromSeq int64
}

// Records calls fn with every record that f selects, in chain order.
func (s *Store) Records(ctx context.Context, f Filter, fn func(*Record) error) error {
	return s.rows(ctx, f, func(rw storage.AuditRow) error {
		r, err := fromCanonical([]byte(rw.Record))
		if err != nil {
			return fmt.Errorf("audit: record %d is not readable: %w", rw.Seq, err)
		}
		r.Hash = rw.Hash
		return fn(&r)
	})
}

// rows calls fn with every stored row that f selects, in seq order.
func (s *Store) rows(ctx context.Context, f Filter, fn func(storage.AuditRow) error) error {
	sf := storage.AuditFilter{FromSeq: f.FromSeq}
	if !f.Since.IsZero() {
		sf.SinceUS = f.Since.UnixMicro()
	}
	if !f.Until.IsZero() {
		sf.UntilUS = f.Until.UnixMicro()
	}
	var fnErr error
	err := s.db.AuditRows(ctx, sf, func(r storage.AuditRow) error {
		fnErr = fn(r)
		return fnErr
	})
	if err == nil || fnErr != nil {
		return err
	}
	return fmt.Errorf("audit: read records: %w", err)
}
