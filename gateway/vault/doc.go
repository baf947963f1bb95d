// Package vault is the token vault: per-user authorization at an
// upstream's own authorization server.
//
// A route whose upstream is marked user_oauth sends each user's own access
// token there, never the client's token and never the gateway's. The user
// grants it once: the first call without a grant is answered, without going
// upstream, with a link to the gateway (a URL-mode elicitation for clients
// that declared one, an InputRequiredResult for 2026-07-28 clients, the
// link in a tool error for the others). The link carries a sealed,
// one-time ticket naming the user and route, and connects only a browser
// signed in as that user (Options.BrowserUser: MCP 2025-11-25
// client/elicitation, Security Considerations, Phishing); the gateway
// then sends the browser
// through the upstream's OAuth 2.1 authorization code flow (RFC 6749
// section 4.1 with PKCE S256, RFC 7636, and the resource indicator, RFC
// 8707), as a configured client, a client ID metadata document or a
// dynamically registered client (RFC 7591), with the authorization server
// found from the upstream's protected resource metadata (RFC 9728) or the
// configured issuer's metadata (RFC 8414). The tokens are stored per user
// and route, sealed under the key-encryption key with both as additional
// data, refreshed before they expire (one refresh per grant across
// replicas: a lease in the store), and revocable by the user and the
// admin, which also revokes them upstream when the server offers RFC 7009.
package vault
