// Package redis holds mcpfort's Redis-backed shared state for replicas:
// the denylist of terminated legacy sessions (so a session deleted on one
// replica is 404 on all of them), and the stream of the embedded
// authorization server's revocations (so a token revoked through one
// replica is refused by all of them within a poll interval). Rate-limit
// buckets live with their policy (gateway/policy/ratelimit/redisstore).
//
// It imports the standard library and go-redis only; it satisfies the
// gateway's interfaces structurally, without importing the gateway.
package redis
