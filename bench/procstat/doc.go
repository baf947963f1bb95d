// Package procstat samples a process's CPU time and resident memory from
// Linux /proc (proc(5): /proc/PID/stat utime and stime, /proc/PID/status
// VmRSS), alone or together with its descendants, so that benchmarks can
// report a server's CPU per call and memory per session without the
// server's cooperation.
//
// It imports only the standard library.
package procstat
