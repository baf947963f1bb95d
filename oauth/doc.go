// Package oauth holds the OAuth 2.x wire vocabulary that mcpfort's
// authorization server, resource-server middleware and clients share: the
// typed RFC 6749 error, token, metadata, introspection and client-metadata
// documents, scope strings and PKCE.
//
// It decides nothing about policy and keeps no state. It imports only the
// standard library and mcpfort/internal/jsonx; it must never import storage,
// authserver, resourceserver, gateway or config.
package oauth
