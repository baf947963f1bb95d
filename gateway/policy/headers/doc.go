// Package headers is the HTTP-edge security-header policy: a
// func(http.Handler) http.Handler that adds, by default,
//
//   - Strict-Transport-Security on responses served over TLS (RFC 6797
//     section 7.2: never over plain HTTP), or behind a TLS-terminating proxy
//     that says so when trusted to;
//   - X-Content-Type-Options: nosniff (Fetch standard "X-Content-Type-
//     Options");
//   - Referrer-Policy: no-referrer (W3C Referrer Policy);
//   - Cache-Control: no-store on responses to authenticated requests
//     (RFC 9111 section 5.2.2.5), so that no cache keeps a caller's data;
//   - a strict Content-Security-Policy, with frame-ancestors 'none', and
//     X-Frame-Options: DENY on HTML, XHTML and SVG responses that set no
//     policy of their own (CSP Level 3; RFC 7034).
//
// Each is configurable and on by default; turning one off is an Insecure
// option that is logged at start. Streaming responses (SSE) keep working:
// the wrapper flushes through and exposes the underlying writer to
// http.ResponseController.
//
// It imports transport/clientip (parsing of Forwarded header values);
// it must not import config, app or any MCP-plane policy.
package headers
