// Package audit is the gateway's tamper-evident audit log: an MCP-plane
// middleware that writes one record per decision (every client request:
// allowed and answered, refused by a policy, or failed), with the time, the
// request ids, the principal (issuer, subject, client), the server, method
// and tool, the SHA-256 of the RFC 8785 canonical arguments, the decision
// and its reason (policies add theirs through the auditnote package), the
// result status and the latency. Calls needing client input (2026-07-28
// basic/patterns/mrtr; 2025-11-25 elicitation, sampling, roots) are
// recorded round by round: a call's record notes the kinds of input the
// server asked for (an InputRequiredResult, or requests relayed on the
// call's stream), a retry's the number of answers it carries, and a legacy
// client's response to a server request gets a record of its own (no
// method; its id, the hash of what it carries, accepted or error).
//
// Records are hash-chained: each record's hash covers its fields and the
// previous record's hash, keyed (HMAC-SHA256) with the chain key kept
// outside the database; records written before the key existed are plain
// SHA-256, up to the record the key starts at (VerifyOptions.KeyedFrom,
// kept with the key), and each record's hash says which it is. The chain
// is one per store, in SQLite (embedded default) or PostgreSQL; replicas
// append to it one transaction at a time, serialised on the chain-head row
// (SELECT ... FOR UPDATE), so sequence numbers are contiguous. Verify
// detects an edited, inserted, reordered or removed record, a record
// rewritten without the key, and a removed tail, because the head row is
// updated in the same transaction as every append.
//
// What the database alone cannot show: someone with write access to it
// who cuts the tail and rewinds the head row. Against that the log writes
// signed chain heads (SignedHead: sequence number, hash, time, Ed25519
// under a key derived from the chain key) outside the database when it
// starts, every HeadInterval while records are written and on Close, and
// Verify checks the chain against them: a head whose record is gone or
// differs names the first bad record. Records written since the last head
// are protected by the chain alone.
//
// Arguments and results are never stored in clear: only their hash, unless
// RecordArguments or RecordResults is set, and then only what the Mask
// function (such as the pii policy's LogJSON) returns.
//
// Writes are batched by one writer goroutine (group commit) from a bounded
// queue; a call reserves its queue slot before it is forwarded, so an
// admitted call's record is never dropped for lack of room. A call's
// response waits until its record is written (Options.ReplyBeforeWrite
// turns that off; Options.WriteWait bounds it while the sink fails), so
// that a process killed at any moment has recorded every call a client
// saw answered through it; records that arrive during a transaction share
// the next one, and the writer holds a transaction a little (ShareWait,
// 1ms) for the records of calls under way, so that concurrent calls share
// one transaction rather than each paying for its own; a lone call never
// waits. A write failure is retried, logged and counted, and by
// default makes the log refuse new calls (fail closed) until a write
// succeeds; AllowUnrecorded lets calls through instead, counting those it
// could not record. Close flushes.
//
// It must not import config, app or another policy.
package audit
