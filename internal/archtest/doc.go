// Package archtest holds the test that keeps mcpfort's import graph as
// DESIGN.md section 6 draws it. It has no code of its own.
package archtest
