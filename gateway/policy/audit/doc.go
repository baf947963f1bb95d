// Package audit is the gateway's tamper-evident audit log: an MCP-plane
// middleware that writes one record per decision (every client request:
// allowed and answered, refused by a policy, or failed), with the time, the
// request ids, the principal (issuer, subject, client), the server, method
// and tool, the SHA-256 of the RFC 8785 canonical arguments, the decision
// and its reason (policies add theirs through the auditnote package), the
// result status and the latency.
//
// Records are hash-chained: each record's hash covers its fields and the
// previous record's hash, optionally keyed (HMAC-SHA256) with a key kept
// outside the database. The chain is one per store, in SQLite (embedded
// default) or PostgreSQL; replicas append to it one transaction at a time,
// serialised on the chain-head row (SELECT ... FOR UPDATE), so sequence
// numbers are contiguous. Verify detects an edited, inserted, reordered or
// removed record, and a removed tail, because the head row is updated in
// the same transaction as every append. What it cannot detect alone: an
// attacker with write access to the database who rewrites the head to an
// earlier record after truncating (and, without a key, recomputes every
// hash after an edit). Against those, anchor the head elsewhere: the log
// writes a checkpoint (sequence number and hash) to the operational log
// periodically and on Close, and Verify checks anchors given to it.
//
// Arguments and results are never stored in clear: only their hash, unless
// RecordArguments or RecordResults is set, and then only what the Mask
// function (such as the pii policy's LogJSON) returns.
//
// Writes are batched by one writer goroutine (group commit) from a bounded
// queue; a call reserves its queue slot before it is forwarded, so an
// admitted call's record is never dropped for lack of room. A write failure
// is retried, logged and counted, and by default makes the log refuse new
// calls (fail closed) until a write succeeds; AllowUnrecorded lets calls
// through instead, counting those it could not record. Close flushes.
//
// It must not import config, app or another policy.
package audit
