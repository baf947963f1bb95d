// Package ratelimit is the gateway's identity-keyed rate limit: an
// MCP-plane middleware (gateway.Middleware) that charges every client
// request to one or more GCRA buckets keyed by any combination of the
// caller's subject, OAuth client, the server (route) and the tool, with
// per-tool cost weights.
//
// Keys never include the session, so opening a new session or reconnecting
// does not reset a limit. A refused request gets the JSON-RPC error
// jsonrpc.CodeRateLimited (-31004) with data.retryAfter in seconds, carried
// on HTTP 429 with Retry-After when it was the whole request (a message of a
// 2025-03-26 batch gets only its JSON-RPC error).
//
// The limiter state lives in a Store: Local (in memory, the embedded
// default, one replica) or redisstore.Store (shared by replicas). Both run
// the same algorithm on the same integer microsecond arithmetic and pass the
// same suite (package ratelimittest).
//
// It must not import config, app, another policy, or any Redis client;
// Redis lives in the redisstore subpackage.
package ratelimit
