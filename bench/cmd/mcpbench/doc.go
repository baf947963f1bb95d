// Command mcpbench runs mcpfort's benchmarks side by side in one run and
// prints the results as Markdown tables, with ratios and a verdict for each
// performance target of docs/architecture.md.
//
// Every peer is a separate process on loopback, measured from outside
// through /proc (CPU time per call, resident memory); the load comes from
// package load, in this process, whose own CPU per call is reported too.
// Peers are started once and alternated round by round, so that a noisy
// neighbour on the machine spreads over all of them; tables show the
// median of the rounds.
//
// Scenarios (select with -only):
//
//	calls     32 clients loop tools/call echo: the bare net/http floor, the
//	          official go-sdk server directly (both eras), and the same
//	          server through mcpfort (both eras); fastecho directly and
//	          through mcpfort (defaults, token check, audit and schema
//	          off), and through mcpfort answering as an event stream and
//	          20 ms later
//	latency   one client: go-sdk directly vs. through mcpfort (added p50)
//	stdio     200 clients on one stdio server: through mcpfort (shared and
//	          per-session isolation) vs. through supergateway
//	sessions  10,000 idle legacy sessions: gateway memory per session
//	streams   held GET streams: gateway memory per stream vs. go-sdk
//	burst     1,000 simultaneous new clients
//
// Usage:
//
//	mcpbench -bin bin/bench [-node bench/node] [-rounds 3] [-duration 3s]
//	         [-only calls,latency,...] [-profile DIR]
//
// -bin names a directory holding mcpfort, bare, gosdk, fastecho and gwprof. With
// -profile, mcpfort runs inside gwprof (the same app, in-process, under
// runtime/pprof) and CPU and heap profiles land in DIR, one per mcpfort
// process; read them with "go tool pprof -top".
package main
