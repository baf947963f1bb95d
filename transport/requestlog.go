package transport

import (
	"context"
	"time"
)

// RequestLog is what one HTTP request leaves for its access-log line and
// audit records. The edge creates it (with the request id) and puts it in
// the request's context; the MCP plane fills in what it learns of the
// message. It belongs to the goroutine serving the request: parts that run
// elsewhere must copy what they need before they leave it.
//
// It holds no token, argument or result: Subject is a hash.
type RequestLog struct {
	// ID is the request id: the X-Request-Id a trusted proxy sent, or one
	// the edge generated. It is returned on the response.
	ID string
	// Route is the pattern of the ServeMux that served the request
	// ("/mcp", "GET /healthz"); "" when no pattern matched.
	Route string
	// TraceID is the W3C trace id of the request's MCP span (hex), when
	// tracing is on.
	TraceID string
	// Method is the JSON-RPC method and Tool the tool or prompt it names.
	Method, Tool string
	// RPCError is the JSON-RPC error code the client was answered with
	// (0: none).
	RPCError int64
	// ClientID is the OAuth client of the caller, SubjectHash a short hash
	// of its issuer and subject (never the subject itself).
	ClientID, SubjectHash string
	// TokenCache is "hit" or "miss" once a bearer token was validated for
	// the request, and TokenTime how long that took.
	TokenCache string
	TokenTime  time.Duration
	// TokenStart is when that validation began; set only while tracing,
	// for its span.
	TokenStart time.Time
}

type requestLogKey struct{}

// WithRequestLog returns ctx carrying l.
func WithRequestLog(ctx context.Context, l *RequestLog) context.Context {
	return context.WithValue(ctx, requestLogKey{}, l)
}

// RequestLogFrom returns the request's log record, or nil when the edge
// made none (a handler used alone, in tests or embedded).
func RequestLogFrom(ctx context.Context) *RequestLog {
	l, _ := ctx.Value(requestLogKey{}).(*RequestLog)
	return l
}

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string {
	if l := RequestLogFrom(ctx); l != nil {
		return l.ID
	}
	return ""
}
