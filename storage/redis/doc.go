// Package redis holds mcpfort's Redis-backed shared state for replicas:
// the denylist of terminated legacy sessions (so a session deleted on one
// replica is 404 on all of them), the stream of the embedded
// authorization server's revocations (so a token revoked through one
// replica is refused by all of them within a poll interval), and that
// server's sign-in and registration counters. The gateway's rate-limit
// buckets live with their policy (gateway/policy/ratelimit/redisstore).
//
// NewClient makes the process's one Redis client; every user here takes
// it, bounds its own calls through its context, and leaves closing it to
// the owner.
//
// It imports the standard library and go-redis only; it satisfies the
// gateway's and the authorization server's interfaces structurally,
// without importing either.
package redis
