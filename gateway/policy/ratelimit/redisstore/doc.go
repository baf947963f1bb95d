// Package redisstore is the Redis-backed ratelimit.Store that replicas
// share: every call's buckets are checked and charged by one Lua script, so
// the decision is atomic across replicas and costs one round trip.
//
// It runs the same GCRA arithmetic as ratelimit.Local, in whole
// microseconds, with the replica's clock (so replicas must keep their clocks
// synchronized); idle buckets expire by themselves. It works with a
// standalone Redis (or a Sentinel-managed primary): a call's keys are used
// together in one script, which Redis Cluster allows only within one hash
// slot.
//
// It must not import config, app or any policy but ratelimit. It takes the
// process's one Redis client (storage/redis.NewClient) rather than making
// its own.
package redisstore
