// Package app is the only place mcpfort is wired together: it turns a
// config.Config into the HTTP server, gateways, upstreams and stores, and
// runs them with graceful shutdown. Library packages never import config;
// app maps configuration onto their Options.
//
// Each chain's order is written once: the MCP-plane policies of a route in
// chain (chain.go), the HTTP edge in buildHandler. New closes whatever it
// opened when it fails; Run closes everything when it stops or cannot
// listen.
package app
