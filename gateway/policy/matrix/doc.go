// Package matrix holds the policy test matrix and the golden conversations
// of the gateway, in its tests only: every policy, through a running
// gateway over loopback HTTP, in front of an HTTP and a stdio upstream,
// for a legacy (2025-11-25) and a 2026-07-28 client, to a legacy and a
// 2026-07-28 upstream, checking both what the upstream received and what
// the client received.
//
// It has no code of its own; it must not be imported.
package matrix
