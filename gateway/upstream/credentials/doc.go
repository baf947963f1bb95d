// Package credentials gives the gateway its own credentials for upstream
// MCP servers, so that a client's token never travels further than the
// gateway (MCP 2026-07-28 basic/authorization/security-considerations
// "Token Passthrough"):
//
//   - TokenExchange trades the client's token, at an authorization server,
//     for a token issued to the upstream (RFC 8693), cached per subject
//     token and upstream until shortly before it expires;
//   - Assertion signs a short-lived JWT stating who the principal is, for
//     upstreams that trust the gateway.
//
// A static secret needs no package: app sends it as a bearer token.
//
// It imports the standard library, go-jose (confined to assertion.go) and
// nothing of the gateway.
package credentials
