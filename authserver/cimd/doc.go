// Package cimd fetches OAuth client ID metadata documents
// (draft-ietf-oauth-client-id-metadata-document): when a client_id is an
// https URL, the authorization server retrieves the client's metadata from
// that URL. Fetching URLs named by strangers is server-side request forgery
// waiting to happen, so the fetcher is deliberately narrow:
//
//   - https only, with a validated URL shape (draft section 3);
//   - no redirects (draft section 4: any non-200 status is an error);
//   - every address the dialer connects to is checked after DNS resolution
//     and refused if it is special-use (RFC 6890 and the IANA special-purpose
//     registries: loopback, private, link-local, CGNAT, documentation,
//     multicast, NAT64, 6to4, Teredo...); the check runs on the socket's
//     actual peer address, so the checked IP is the dialed IP (no
//     resolve-then-connect race, no DNS rebinding);
//   - no proxy from the environment; TLS 1.2 minimum;
//   - a 5 KB body cap and a total timeout;
//   - valid documents are cached per HTTP caching (RFC 9111 max-age,
//     no-store, Expires) clamped to operator bounds; errors never are;
//   - an operator allow list and deny list of domains.
//
// The same dialer policy serves jwks_uri fetches for private_key_jwt
// clients (FetchJWKS).
//
// It imports storage, oauth and internal/jsonx; it must not import
// authserver, gateway or config.
package cimd
