// Command gwprof runs mcpfort exactly as "mcpfort serve" does (config.Load,
// app.New, App.Run) under runtime/pprof, because the mcpfort binary has no
// profiling endpoint. The CPU profile covers the whole run, from listening
// to shutdown; the heap profile is written at shutdown, after a GC, and on
// each SIGUSR1 to FILE.1, FILE.2, ... (to see what a held load keeps).
//
// Usage:
//
//	gwprof -config mcpfort.yaml [-cpuprofile cpu.pprof] [-memprofile heap.pprof]
//
// It stops on SIGINT or SIGTERM. mcpbench -profile DIR runs mcpfort through
// it; read the profiles with "go tool pprof -top bin/bench/gwprof FILE".
package main
