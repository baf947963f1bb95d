// Package authserver is mcpfort's embedded OAuth 2.1 authorization server
// with the MCP authorization profile: authorization code + PKCE (S256
// only), refresh-token rotation with reuse detection, client credentials,
// RFC 8693 token exchange, RFC 9068 JWT access tokens bound to an RFC 8707
// resource, RFC 9207 "iss" on every authorization response, client ID
// metadata documents, RFC 7591/7592 dynamic registration, RFC 7662
// introspection, RFC 7009 revocation, RFC 8414 and OpenID Connect
// discovery metadata, server-rendered sign-in and consent pages, local
// users (argon2id) and federation to an upstream OpenID provider.
//
// A Server is an http.Handler built by New from Options, whose zero value
// (apart from the required Issuer, Store, KeyEncryptionKey and Resources)
// is the secure default. It serves absolute paths: the well-known metadata
// documents at the root of the issuer's host and every endpoint under the
// issuer's path, so mount it at "/" or route those prefixes to it.
//
// One file per endpoint or grant: metadata.go, authorize.go, login.go,
// consent.go, federation.go, token.go (dispatch) with token_code.go,
// token_refresh.go, token_client_credentials.go and token_exchange.go,
// introspect.go, revoke.go, register.go, jwks.go; clientauth.go
// authenticates clients, accesstoken.go issues and checks JWTs,
// redirect.go matches redirect URIs.
//
// It imports storage, oauth, web, authserver/keys, authserver/cimd and
// transport/clientip; it must never import gateway, resourceserver or
// config.
package authserver
