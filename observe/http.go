package observe

import (
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/internal/textcut"
	"github.com/mcpfort/mcpfort/transport"
)

// HeaderRequestID carries the request id, in and out.
const HeaderRequestID = "X-Request-Id"

// HTTPOptions configure the edge middleware.
type HTTPOptions struct {
	// TrustedPeer reports whether a request's direct peer is a trusted
	// proxy, whose X-Request-Id is kept; anyone else's is replaced. If
	// nil, no peer is trusted.
	TrustedPeer func(*http.Request) bool
}

// HTTP is the outermost HTTP middleware: it gives every request an id
// (a trusted proxy's X-Request-Id, or 16 random bytes in hex), returns it
// in X-Request-Id, puts a transport.RequestLog in the context for the
// parts below to fill in, records mcpfort.http.request.duration, and,
// when the access log is on, writes one line per request: id, method,
// route, status, duration, and what the MCP plane learned (MCP method,
// tool, JSON-RPC error code, client id, subject hash, trace id). Never
// tokens, arguments or results.
func (t *Telemetry) HTTP(next http.Handler, o HTTPOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(HeaderRequestID)
		if id == "" || !validRequestID(id) || o.TrustedPeer == nil || !o.TrustedPeer(r) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		rl := &transport.RequestLog{ID: id}
		r = r.WithContext(transport.WithRequestLog(r.Context(), rl))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		route := rl.Route
		if route == "" {
			route = "other"
		}
		if t.metering {
			method := r.Method
			switch method {
			case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions, http.MethodHead, http.MethodPut:
			default:
				method = "_OTHER" // bounded, as the HTTP conventions ask
			}
			t.agg.point(aggHTTPDuration, labels{kind: kindHTTP, route: route, method: method, code: statusCode(status)}).record(d.Seconds(), trace.SpanContext{})
		}
		if !t.access {
			return
		}
		attrs := make([]slog.Attr, 0, 12)
		attrs = append(attrs, slog.String("request_id", id), slog.String("method", r.Method),
			slog.String("route", route), slog.Int("status", status), slog.Duration("duration", d))
		if rl.Method != "" {
			attrs = append(attrs, slog.String("mcp_method", logBounded(rl.Method)))
		}
		if rl.Tool != "" {
			attrs = append(attrs, slog.String("tool", logBounded(rl.Tool)))
		}
		if rl.RPCError != 0 {
			attrs = append(attrs, slog.Int64("rpc_error", rl.RPCError))
		}
		if rl.ClientID != "" {
			attrs = append(attrs, slog.String("client_id", rl.ClientID))
		}
		if rl.SubjectHash != "" {
			attrs = append(attrs, slog.String("subject_hash", rl.SubjectHash))
		}
		if rl.TraceID != "" {
			attrs = append(attrs, slog.String("trace_id", rl.TraceID))
		}
		t.log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	})
}

// Routed wraps a ServeMux so that the pattern it chose reaches the
// request's log record (the access log's route and the HTTP metrics'
// http.route: bounded, unlike paths). Wrappers between HTTP and the mux may
// copy the request, so the pattern is read right where the mux set it.
func Routed(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if rl := transport.RequestLogFrom(r.Context()); rl != nil && rl.Route == "" {
			rl.Route = r.Pattern
		}
	})
}

// validRequestID accepts what a proxy may reasonably send: 1 to 128
// characters of letters, digits and -_.:/+=@, nothing a log line or a
// header could be split on.
func validRequestID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=' || c == '@':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex. A request id names a
// request in logs and audit records; it grants nothing, so the runtime's
// fast generator is enough (no system call per request).
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// AuthServerRoutes names the authorization server's endpoints that
// AuthServer counts outcomes of (full paths, under the issuer's path).
type AuthServerRoutes struct {
	Token, Login, Register string
	// All are every endpoint path, for bounded span names and routes.
	All []string
}

// knownGrants bounds the grant label: a client may send any grant_type,
// but only those the server grants are counted by name.
var knownGrants = map[string]bool{
	"authorization_code": true, "refresh_token": true, "client_credentials": true,
	"urn:ietf:params:oauth:grant-type:token-exchange": true, "urn:ietf:params:oauth:grant-type:jwt-bearer": true,
}

// AuthServer wraps the embedded authorization server: each request gets a
// SERVER span "{METHOD} {path}" (the method alone for a path not in
// routes.All, so names stay bounded), the endpoint as its route in the
// access log and HTTP metrics, and the outcomes operators watch are
// counted: tokens issued by grant, sign-ins ok or failed, registrations ok
// or failed. The spans are roots: these endpoints serve anyone, who may
// not choose the gateway's trace.
func (t *Telemetry) AuthServer(next http.Handler, routes AuthServerRoutes) http.Handler {
	m := t.inst.meter
	issued, _ := m.Int64Counter(MetricAuthTokensIssued, metric.WithDescription("Tokens issued by the embedded authorization server, by grant."))
	signins, _ := m.Int64Counter(MetricAuthSignIns, metric.WithDescription("Sign-ins at the embedded authorization server, by result."))
	regs, _ := m.Int64Counter(MetricAuthRegistrations, metric.WithDescription("Dynamic client registrations, by result."))
	result := func(status int) metric.AddOption {
		r := "ok"
		if status >= 400 {
			r = "failed"
		}
		return metric.WithAttributes(attribute.String(AttrResult, r))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := ""
		if slices.Contains(routes.All, r.URL.Path) {
			route = r.URL.Path
		}
		ctx := r.Context()
		rl := transport.RequestLogFrom(ctx)
		if rl != nil && route != "" {
			rl.Route = route
		}
		var span trace.Span = trace.SpanFromContext(ctx)
		if t.tracing {
			name := r.Method
			if route != "" {
				name += " " + route
			}
			ctx, span = t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithNewRoot())
			defer span.End()
			if rl != nil && rl.TraceID == "" {
				rl.TraceID = span.SpanContext().TraceID().String()
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		r2 := r.WithContext(ctx)
		next.ServeHTTP(sw, r2)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		if r.Method == http.MethodPost {
			switch route {
			case "":
			case routes.Token:
				// The handler parsed the form; never parse it here.
				if g := r2.PostForm.Get("grant_type"); status == http.StatusOK && knownGrants[g] {
					issued.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrGrant, g)))
				}
			case routes.Login:
				signins.Add(ctx, 1, result(status))
			case routes.Register:
				regs.Add(ctx, 1, result(status))
			}
		}
		if span.IsRecording() {
			a := []attribute.KeyValue{attribute.String(AttrHTTPRequestMethod, r.Method), attribute.Int(AttrHTTPResponseStatusCode, status)}
			if route != "" {
				a = append(a, attribute.String(AttrHTTPRoute, route))
			}
			if status >= 500 {
				a = append(a, attribute.String(AttrErrorType, strconv.Itoa(status)))
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.SetAttributes(a...)
		}
	})
}

// statusWriter remembers the status; Flush and Unwrap keep SSE streaming
// and http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// maxLogName is how much of a client-chosen name (a tool's) the access log
// keeps: a request body's worth of name would make a line as long.
const maxLogName = 256

// logBounded is s cut to maxLogName bytes (textcut.Cut).
func logBounded(s string) string { return textcut.Cut(s, maxLogName) }

// maxSpanValue is how much of a client-chosen string (method, tool or
// prompt name, resource URI, request id) a span keeps, in its name and
// attributes: a sampled span is held in memory until it is exported.
const maxSpanValue = 1024

// spanBounded is s cut to maxSpanValue bytes (textcut.Cut).
func spanBounded(s string) string { return textcut.Cut(s, maxSpanValue) }
