package storage

import (
	"context"
	"time"
)

// AuditRow is one audit record as stored. Record is the record's canonical
// JSON and Hash its hash; the audit log computes both, the store keeps them
// byte for byte. Seq and TimeUS (Unix microseconds) repeat the record's
// own values for ordering and selection.
//
// Key, when set, identifies what the record attests once and for all (an
// answer delivered to a client, which two replicas may both see): no two
// rows hold the same Key. It is in Record too (the chain covers it); the
// store keeps a copy it can look up.
type AuditRow struct {
	Seq    int64
	TimeUS int64
	Record string
	Hash   string
	Key    string
}

// AuditHead is the audit chain's head: the sequence number and hash of the
// last record appended (0 and "" for an empty log).
type AuditHead struct {
	Seq  int64
	Hash string
}

// AuditFilter selects audit rows: Seq from FromSeq, TimeUS in
// [SinceUS, UntilUS). A zero bound is no bound.
type AuditFilter struct {
	FromSeq, SinceUS, UntilUS int64
}

// AuditStore keeps the gateway's audit log: a hash chain of records
// numbered from 1 without gaps. Rows are append-only; the store never
// changes one.
type AuditStore interface {
	// AppendAudit reads the head and which of keys rows already hold,
	// calls chain with them and writes the rows chain returns, which must
	// number on from the head, then moves the head to the last of them,
	// all in one transaction: replicas appending to one database append
	// one after another, so a key chain is told is free is still free
	// when its row is written. chain leaves out the rows whose Key is
	// taken (insert if absent, without a gap in the chain); a row whose
	// Key is taken after all fails the append. An error from chain is
	// returned as is and nothing is written.
	AppendAudit(ctx context.Context, keys []string, chain func(head AuditHead, taken map[string]bool) ([]AuditRow, error)) error
	// AuditHead reads the head.
	AuditHead(ctx context.Context) (AuditHead, error)
	// AuditRow reads the row numbered seq, or returns ErrNotFound.
	AuditRow(ctx context.Context, seq int64) (AuditRow, error)
	// AuditRows calls fn with every row f selects, in Seq order, until fn
	// returns an error, which it returns.
	AuditRows(ctx context.Context, f AuditFilter, fn func(AuditRow) error) error
}

// Pin is an approved tool definition: at most one per server and tool.
type Pin struct {
	Server, Tool string
	// Hash is the approved definition's hash.
	Hash string
	// Definition is the canonical definition, when known.
	Definition []byte
	ApprovedAt time.Time
	ApprovedBy string
}

// PinCandidate is a tool definition seen upstream and not approved. There
// is at most one per server, tool and hash.
type PinCandidate struct {
	Server, Tool, Hash string
	Definition         []byte
	// Findings is the JSON the pinning policy recorded about the
	// definition; the store keeps it as it is.
	Findings            []byte
	FirstSeen, LastSeen time.Time
}

// PinStore keeps the gateway's tool pins. Approvals and revocations are
// also written to a history that is never read back by mcpfort.
type PinStore interface {
	// Pins lists the pins of server (every server if ""), by server and
	// tool.
	Pins(ctx context.Context, server string) ([]Pin, error)
	// ApprovePin pins p, replacing the tool's previous pin, and forgets
	// the tool's candidates.
	ApprovePin(ctx context.Context, p Pin) error
	// RevokePin removes the pin of a tool, or returns ErrNotFound.
	RevokePin(ctx context.Context, server, tool, actor string, at time.Time) error
	// BootstrapPins pins every one of pins, all of server, if and only if
	// server was never bootstrapped, and reports whether it did. Of
	// replicas bootstrapping one server at once, exactly one does.
	BootstrapPins(ctx context.Context, server string, pins []Pin, at time.Time) (bool, error)
	// PinsBootstrapped reports whether BootstrapPins ran for server.
	PinsBootstrapped(ctx context.Context, server string) (bool, error)
	// AddPinCandidate records c, or, if it is known, moves its LastSeen.
	AddPinCandidate(ctx context.Context, c PinCandidate) error
	// PinCandidates lists the candidates of server (every server if ""),
	// most recently seen first.
	PinCandidates(ctx context.Context, server string) ([]PinCandidate, error)
}

// Backend is all a database holds: the authorization server's data, the
// audit log, the tool pins and the token vault. One Backend, with one set of connections,
// serves every part of a process that uses the database.
type Backend interface {
	Store
	AuditStore
	PinStore
	VaultStore
}
