// Package archtest holds the test that keeps mcpfort's import graph as
// docs/architecture.md draws it. It has no code of its own.
package archtest
