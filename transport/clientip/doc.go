// Package clientip finds the address of the client behind a request, for
// rate limits, logs and audit records. The direct peer (RemoteAddr) is the
// client unless it is one of the operator's trusted proxies; only then is
// the forwarding header read, from the right, and the first hop that is not
// itself a trusted proxy is the client (RFC 7239 section 5.2; the
// de-facto X-Forwarded-For convention). A client that talks to the server
// directly cannot choose the address it is known by.
//
// It imports only the standard library.
package clientip
