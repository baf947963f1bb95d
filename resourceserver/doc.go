// Package resourceserver makes an HTTP MCP server an OAuth 2.1 resource
// server as the MCP authorization specification requires
// (docs/specification/2026-07-28/basic/authorization/, and the 2025-11-25 and
// 2025-06-18 revisions): it accepts only bearer tokens issued for it, by
// issuers it trusts, and answers every failure exactly as RFC 6750 and
// RFC 9728 say.
//
// The parts, usable together or alone:
//
//   - [Middleware]: a func(http.Handler) http.Handler ([Middleware.Wrap]) that
//     extracts the bearer token (RFC 6750 §2.1, header only), verifies it,
//     checks that its audience is this resource (RFC 8707 §2, RFC 9068 §4),
//     puts the [Principal] in the request context and removes the
//     Authorization header before calling the next handler, so the client's
//     token never travels further (no token passthrough).
//   - [MetadataHandler]: the RFC 9728 protected resource metadata document at
//     the root and path-suffixed well-known URIs.
//   - [WriteError] and [Challenge]: the RFC 6750 §3 responses (401
//     invalid_token or no error, 403 insufficient_scope with every needed
//     scope in one challenge, 400 invalid_request), always with a JSON body.
//     The gateway calls [Middleware.WriteError] when it decides per-tool
//     scopes after reading the request body.
//   - [Verifier] implementations: [JWTVerifier] (RFC 9068 JWT access tokens,
//     issuer discovery, JWKS cache), [IntrospectionVerifier] (RFC 7662, for
//     opaque tokens), [Multi] (several trusted issuers at once) and [Cache]
//     (a bounded cache of validated tokens keyed by the SHA-256 of the token,
//     never the token itself).
//   - [Satisfies] and [MissingScopes]: the scope-hierarchy rule ("mcp:tools"
//     satisfies "mcp:tools:read").
//
// A typical stack, for one MCP endpoint:
//
//	jwt, _ := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{
//		Issuer:    "https://auth.example.com",
//		Audiences: []string{"https://mcp.example.com/mcp"},
//	})
//	cache, _ := resourceserver.NewCache(jwt, resourceserver.CacheOptions{})
//	mw, _ := resourceserver.NewMiddleware(resourceserver.MiddlewareOptions{
//		Verifier: cache,
//		Resource: "https://mcp.example.com/mcp",
//	})
//	prm, _ := resourceserver.NewMetadataHandler(resourceserver.MetadataOptions{
//		Resource:             "https://mcp.example.com/mcp",
//		AuthorizationServers: []string{"https://auth.example.com"},
//	})
//	for _, p := range prm.Paths() {
//		mux.Handle(p, prm)
//	}
//	mux.Handle("/mcp", mw.Wrap(mcpHandler))
//
// # Using it in a gateway
//
// Build one [Middleware] per protected resource (each MCP endpoint has its
// own canonical URI and metadata document) over one shared verifier stack,
// so the JWKS and the cache are shared while the audience check stays per
// resource.
//
// No token passthrough: [Middleware.Wrap] hands the next handler a shallow
// copy of the request whose Header is a new map without Authorization. A
// proxy that builds its upstream request from that header cannot forward
// the client's token; the caller's request is left untouched. Code that
// calls [Middleware.Authenticate] directly instead of Wrap must drop the
// header itself.
//
// Per-tool scopes: after decoding a tools/call (or resources/read,
// prompts/get), compute every scope the call needs and, if
// [MissingScopes](p.Scopes, needed) is not nil, answer with
// [Middleware.WriteError] and an [Error] of code [InsufficientScope] whose
// Scopes are all the needed ones (step-up in one round trip).
//
// Sessions: bind them to [Principal.Identity] (issuer, subject and client),
// never to the token. Revocation: give the [Cache] a [Revocations]
// checker, typically a [RevocationList] fed with the issuer's revocation
// events (by token id, grant id "sid", subject, or subject and client);
// it is consulted on every request, cached tokens included. Without one,
// a revoked token is refused once the cache's MaxAge has passed
// (introspection), or when it expires (JWT).
//
// CORS preflight requests carry no credentials: answer them before the
// middleware.
//
// Untrusted JSON (token headers and claims, introspection responses,
// metadata documents) goes through internal/jsonx: strict UTF-8, bounded
// depth, duplicate keys rejected, case-sensitive member names.
//
// It imports the standard library, internal/jsonx and go-jose (confined to
// jwks.go; no go-jose type appears in the API). It must never import
// authserver (it works with any authorization server), gateway, app,
// config or storage. internal/archtest enforces both.
package resourceserver
