// Package app is the only place mcpfort is wired together: it turns a
// config.Config into the HTTP server, gateways, upstreams and stores, and
// runs them with graceful shutdown. Library packages never import config;
// app maps configuration onto their Options.
//
// The edge chain order (outermost first) is written once, in handler():
// panic recovery, then routing to health endpoints or a gateway route.
package app
