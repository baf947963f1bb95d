// Package archtest holds the one test of mcpfort's import graph: a table of
// layers and sides saying which package may import which, the few
// sideways imports made on purpose, and the third-party budget (which
// packages, or files, may import each third-party module).
// docs/architecture.md describes the same table. It has no code of its own.
package archtest
