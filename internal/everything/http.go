package everything

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HandlerOptions configures [NewHandler]. The zero value is a valid, secure
// configuration for a server bound to a loopback address.
type HandlerOptions struct {
	// Logger receives the transport's operational log. If nil, nothing is
	// logged.
	Logger *slog.Logger

	// AllowedHosts lists host names, without port, that the Host and Origin
	// headers may carry besides the loopback names (localhost, 127.0.0.1,
	// [::1]), which are always allowed. Matching is case-insensitive. Leave
	// it empty unless the server is reached through a name on purpose: every
	// entry widens what a DNS-rebinding page could reach.
	AllowedHosts []string

	// SessionTimeout closes legacy (2025-era) sessions that received no
	// request for this long. If zero, 10 minutes; if negative, sessions live
	// until deleted.
	SessionTimeout time.Duration

	// EventStoreMaxBytes bounds the memory kept for SSE resumption of legacy
	// sessions (2025-11-25 transports, "Resumability and Redelivery"). If
	// zero, 10 MiB.
	EventStoreMaxBytes int

	// MaxRequestBodyBytes bounds a POST body. If zero, 4 MiB.
	MaxRequestBodyBytes int64
}

// MCPPath is where [NewHandler] serves the MCP endpoint.
const MCPPath = "/mcp"

// HealthPath is where [NewHandler] answers liveness probes.
const HealthPath = "/health"

// NewHandler serves server over Streamable HTTP at [MCPPath], speaking both
// protocol eras on that one endpoint, plus GET [HealthPath]:
//
//   - 2025 revisions (2025-03-26, 2025-06-18, 2025-11-25): initialize,
//     Mcp-Session-Id sessions, GET streams, SSE resumption from an event
//     store, DELETE terminates and the id then answers 404 (2025-11-25
//     basic/transports "Session Management").
//   - 2026-07-28: every request stands alone, carrying MCP-Protocol-Version
//     and _meta; no sessions, GET and DELETE answer 405
//     (2026-07-28 basic/transports/streamable-http).
//
// Every request to the MCP endpoint must carry a loopback or allowed Host
// and, when present, an Origin of such a host, else 403 (2025-11-25 and
// 2026-07-28 transports, "Security Warning": servers MUST validate Origin to
// prevent DNS rebinding).
func NewHandler(server *mcp.Server, opts HandlerOptions) (http.Handler, error) {
	if server == nil {
		return nil, errors.New("everything: nil server")
	}
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, h := range opts.AllowedHosts {
		name := strings.Trim(strings.ToLower(strings.TrimSpace(h)), "[]")
		if name == "" || (net.ParseIP(name) == nil && strings.ContainsAny(name, ":/@ ")) {
			return nil, fmt.Errorf("everything: allowed host %q is not a bare host name", h)
		}
		allowed[name] = true
	}
	timeout := opts.SessionTimeout
	switch {
	case timeout == 0:
		timeout = 10 * time.Minute
	case timeout < 0:
		timeout = 0
	}
	maxBody := opts.MaxRequestBodyBytes
	if maxBody <= 0 {
		maxBody = mcp.DefaultMaxRequestBodyBytes
	}
	events := mcp.NewMemoryEventStore(nil)
	if opts.EventStoreMaxBytes > 0 {
		events.SetMaxBytes(opts.EventStoreMaxBytes)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	getServer := func(*http.Request) *mcp.Server { return server }
	d := &dualEra{
		maxBody: maxBody,
		// Host checking is done by hostGuard for both handlers, so that
		// AllowedHosts also applies and the check does not depend on which
		// local address the connection arrived on.
		legacy: mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			EventStore:                 events,
			SessionTimeout:             timeout,
			Logger:                     logger,
			MaxRequestBodyBytes:        maxBody,
			DisableLocalhostProtection: true,
		}),
		modern: mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
			Stateless:                    true,
			Logger:                       logger,
			MaxRequestBodyBytes:          maxBody,
			DisableLocalhostProtection:   true,
			PropagateRequestCancellation: true,
		}),
	}
	mux := http.NewServeMux()
	mux.Handle(MCPPath, hostGuard(allowed, d))
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	return mux, nil
}

// hostGuard refuses requests whose Host, or Origin when present, names a
// host outside allowed, with 403 and an id-less JSON-RPC error body
// (2025-11-25 basic/transports: "If the Origin header is present and
// invalid, servers MUST respond with HTTP 403 Forbidden. The HTTP response
// body MAY comprise a JSON-RPC error response that has no id").
func hostGuard(allowed map[string]bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedHost(allowed, r.Host) {
			forbid(w, "Host header is not allowed")
			return
		}
		if origins := r.Header.Values("Origin"); len(origins) > 0 {
			if len(origins) > 1 || !allowedOrigin(allowed, origins[0]) {
				forbid(w, "Origin header is not allowed")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost reports whether a Host header value (host, host:port,
// [v6]:port) names an allowed host.
func allowedHost(allowed map[string]bool, hostport string) bool {
	if hostport == "" {
		return false
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.Contains(hostport, ":") && !strings.HasPrefix(hostport, "[") {
		// A colon without a parsable port ("a:b:c", "host:") is malformed.
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	return allowed[host]
}

// allowedOrigin reports whether an Origin header (RFC 6454 §7) is an
// http(s) origin on an allowed host. "null" and anything else is refused.
func allowedOrigin(allowed map[string]bool, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return allowedHost(allowed, u.Host)
}

func forbid(w http.ResponseWriter, msg string) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"error":   map[string]any{"code": -32600, "message": msg},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(body)
}

// dualEra sends each request to the handler of its protocol era. The SDK's
// stateful handler refuses 2026-07-28 requests and its stateless handler has
// no sessions, so one endpoint serving both needs this split.
type dualEra struct {
	maxBody int64
	legacy  http.Handler
	modern  http.Handler
}

func (d *dualEra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// 2025-06-18 and later clients send MCP-Protocol-Version on every
	// request after initialize; 2026-07-28 clients on every request.
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" {
		if isModernVersion(v) {
			d.modern.ServeHTTP(w, r)
		} else {
			d.legacy.ServeHTTP(w, r)
		}
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Mcp-Session-Id") != "" {
		d.legacy.ServeHTTP(w, r)
		return
	}
	// A POST without a version header is initialize (legacy), a 2025-03-26
	// request (legacy), or a 2026-07-28 request that forgot the header; the
	// last one must reach the stateless handler so that it is refused with
	// the 2026-07-28 error (-32020) instead of being read as 2025-03-26.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request body exceeds %d bytes", mbe.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "failed to read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if wantsModern(body) {
		d.modern.ServeHTTP(w, r)
	} else {
		d.legacy.ServeHTTP(w, r)
	}
}

// isModernVersion reports whether a protocol version names the stateless
// era. Version strings are dates (YYYY-MM-DD), which sort as strings.
func isModernVersion(v string) bool {
	return v >= modernVersion
}

// wantsModern reports whether a JSON-RPC message body is a 2026-07-28
// request: server/discover, or a request whose params._meta carries
// io.modelcontextprotocol/protocolVersion (2026-07-28 basic/index "_meta").
// Keys are matched exactly; anything unparsable is left to the legacy
// handler, which rejects it.
func wantsModern(body []byte) bool {
	var msg map[string]json.RawMessage
	if json.Unmarshal(body, &msg) != nil {
		return false
	}
	var method string
	if json.Unmarshal(msg["method"], &method) == nil && method == "server/discover" {
		return true
	}
	var params map[string]json.RawMessage
	if json.Unmarshal(msg["params"], &params) != nil {
		return false
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(params["_meta"], &meta) != nil {
		return false
	}
	_, ok := meta["io.modelcontextprotocol/protocolVersion"]
	return ok
}
