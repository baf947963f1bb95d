package transport

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// DefaultMaxBody is the request body limit used when none is configured.
const DefaultMaxBody = 4 << 20

// ErrBodyTooLarge reports a request body over the limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ReadBody reads the whole request body, refusing more than max bytes
// (DefaultMaxBody if max <= 0).
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if r.ContentLength > max {
		return nil, ErrBodyTooLarge
	}
	// A body of known length within the limit is framed by that length
	// (net/http reads no further), so only a body of unknown length needs
	// the limiting reader; the count below holds either way.
	rd := r.Body
	if r.ContentLength < 0 {
		rd = http.MaxBytesReader(w, r.Body, max)
	}
	n := r.ContentLength
	if n < 0 || n > 64<<10 {
		n = 512
	}
	buf := make([]byte, 0, n+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if int64(len(buf)) > max {
			return nil, ErrBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, ErrBodyTooLarge
			}
			return nil, err
		}
	}
}

// Bounds of [DrainBody] when the caller gives none.
const (
	DefaultDrainLimit   = 16 << 20
	DefaultDrainTimeout = 10 * time.Second
)

// DrainBody wraps next so that, on HTTP/1.x, the part of a request body
// the handler did not read (a body over the size limit, a request refused
// before its body mattered) is read and discarded after the answer is
// sent: at most limit bytes, for at most timeout. Without it the server
// closes the connection with the client's bytes unread, the kernel answers
// them with a TCP reset, and a client that sends its whole body before
// reading (most HTTP/1.1 clients do) never sees the 413 or 401, only
// "connection reset" or "broken pipe" (RFC 9112 section 9.6: a server
// closing a connection should close its sending side first and keep
// reading until the client has received the response). A body longer
// than limit still ends that way, so limit bounds what a client can make
// the server read for nothing.
//
// A request with "Expect: 100-continue" is not drained: its client has not
// sent the body and must not be asked to (RFC 9110 section 10.1.1).
//
// It enables full duplex on the connection (net/http would otherwise
// refuse to read the body once the answer is written), so a handler must
// not write a large answer before reading what it needs of the body.
// limit <= 0 means [DefaultDrainLimit], timeout <= 0 [DefaultDrainTimeout].
func DrainBody(next http.Handler, limit int64, timeout time.Duration) http.Handler {
	if limit <= 0 {
		limit = DefaultDrainLimit
	}
	if timeout <= 0 {
		timeout = DefaultDrainTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 ||
			strings.EqualFold(first(r.Header["Expect"]), "100-continue") {
			next.ServeHTTP(w, r)
			return
		}
		if enableFullDuplex(w) != nil {
			next.ServeHTTP(w, r)
			return
		}
		// The body is swapped in place, as http.MaxBytesReader is, and put
		// back after: a copy of the request (WithContext) per call cost
		// more than the rest of this handler.
		body := &eofBody{ReadCloser: r.Body}
		r.Body = body
		next.ServeHTTP(w, r)
		r.Body = body.ReadCloser
		if body.eof.Load() {
			return
		}
		// Put the answer on the wire first: a client that reads while it
		// sends has it at once.
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
		_, _ = io.CopyN(io.Discard, body.ReadCloser, limit)
		_ = rc.SetReadDeadline(time.Time{})
	})
}

// enableFullDuplex is http.ResponseController's EnableFullDuplex, which
// it finds the same way (the writer's method, else the writer it wraps,
// through Unwrap), without allocating a controller for every request.
func enableFullDuplex(w http.ResponseWriter) error {
	for {
		switch t := w.(type) {
		case interface{ EnableFullDuplex() error }:
			return t.EnableFullDuplex()
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return http.ErrNotSupported
		}
	}
}

// eofBody records whether its reader reached the end.
type eofBody struct {
	io.ReadCloser
	eof atomic.Bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// WriteError writes an HTTP error whose body is a JSON-RPC error response
// with the given id (null when absent). It is the one writer of HTTP-level
// JSON-RPC errors, so every rejection has the same shape.
func WriteError(w http.ResponseWriter, status int, id jsonrpc.ID, e *jsonrpc.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(jsonrpc.AppendErrorResponse(make([]byte, 0, 128), id, e))
}

// OriginPolicy decides which Origin and Host headers an MCP endpoint
// accepts. The zero value accepts only loopback hosts (localhost, 127.0.0.1,
// [::1], any port) and requests without an Origin header or with a loopback
// Origin.
type OriginPolicy struct {
	// AllowedOrigins are exact origins ("https://app.example.com") accepted
	// in addition to loopback origins.
	AllowedOrigins []string
	// AllowedHosts are Host header values accepted in addition to loopback
	// names: "mcp.example.com" accepts any port, "mcp.example.com:8443"
	// only that port. "*" accepts any Host (for deployments behind a proxy
	// that checks it).
	AllowedHosts []string
}

// Check validates a request's Host and Origin headers. Servers MUST validate
// Origin on all incoming connections and answer 403 when it is present and
// invalid (2025-11-25 basic/transports "Security Warning"; 2026-07-28
// streamable-http "Security & Endpoint"); the Host check defeats DNS
// rebinding for clients that send no Origin.
func (p *OriginPolicy) Check(r *http.Request) error {
	if !p.hostAllowed(r.Host) {
		return errors.New("host not allowed")
	}
	if o := first(r.Header["Origin"]); o != "" && !p.originAllowed(o) {
		return errors.New("origin not allowed")
	}
	return nil
}

func isLoopbackName(h string) bool {
	h = strings.ToLower(h)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func splitHost(hostport string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.Trim(hostport, "[]"), ""
}

func (p *OriginPolicy) hostAllowed(hostport string) bool {
	if hostport == "" {
		return false
	}
	host, port := splitHost(hostport)
	if isLoopbackName(host) {
		return true
	}
	for _, a := range p.AllowedHosts {
		if a == "*" {
			return true
		}
		ah, ap := splitHost(a)
		if strings.EqualFold(ah, host) && (ap == "" || ap == port) {
			return true
		}
	}
	return false
}

func (p *OriginPolicy) originAllowed(origin string) bool {
	for _, a := range p.AllowedOrigins {
		if a == origin {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	return isLoopbackName(u.Hostname())
}

// first is Header.Get for a name already in canonical form (a constant):
// the field's first value, without canonicalizing the name on every call.
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
