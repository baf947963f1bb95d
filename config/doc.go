// Package config is mcpfort's configuration file: the YAML schema, its
// documented defaults, strict decoding (unknown keys are errors) and
// Validate, which reports every problem at once with its path.
//
// The field comments of the types in this package are the configuration
// reference. Only app and cmd/mcpfort import this package; everything below
// app takes its own Options struct.
//
// It imports only the standard library, the YAML decoder and secrets (to
// parse secret references).
package config
