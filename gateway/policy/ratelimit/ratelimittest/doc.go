// Package ratelimittest is the conformance suite every ratelimit.Store
// must pass: the in-memory Local store and the Redis store run the same
// tests, so that they keep exactly the same semantics.
//
// It imports only the standard library, ratelimit and the gateway packages
// the Limiter needs; it must not import a store implementation.
package ratelimittest
