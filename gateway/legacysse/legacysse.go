// Package legacysse serves a route to clients that speak only the HTTP+SSE
// transport of protocol version 2024-11-05 (specification 2024-11-05
// basic/transports "HTTP with SSE").
//
// The front door is an in-process client of the route's Streamable HTTP
// handler: GET <path>/sse opens a session's event stream and announces
// <path>/message?sessionId=<id> in its first "endpoint" event; each message
// POSTed there is answered 202 and handed to the route's handler as a
// Streamable HTTP POST, with the session's Mcp-Session-Id (learned from the
// initialize answer) and the caller's request context (so the same
// authenticated principal, policies and upstream credentials apply); the
// handler's JSON or SSE answer is relayed onto the session's stream. Once
// initialized, a standalone GET to the handler is relayed onto the stream
// too. Closing the stream ends the session (DELETE to the handler).
//
// Session ids are 256-bit random values, bound to the principal that
// opened the stream: a POST by anyone else, or with an unknown id, is 404.
// The stream and its session live in one process, so a deployment with
// several replicas must route a session's POSTs to the replica holding its
// stream: mcpfort's app does so with Options.NewID (ids naming their
// replica, sealed) and its forwarder; without it, sticky sessions on the
// sessionId query parameter or on the client.
//
// It imports the standard library, internal/jsonx, jsonrpc, mcp and
// transport.
package legacysse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// Options configures a Door. Handler, Path and Principal are required.
type Options struct {
	// Handler is the route's Streamable HTTP handler, called in process.
	Handler http.Handler
	// Path is the route's MCP path; the door serves Path+"/sse" and
	// Path+"/message".
	Path string
	// Principal names the authenticated caller of a request ("" for an
	// anonymous one on an open route). A session answers only to the
	// principal that opened it.
	Principal func(context.Context) string
	// Origin, if set, checks the Origin and Host of every request
	// (2024-11-05 basic/transports "Security Warning": servers MUST
	// validate the Origin header).
	Origin *transport.OriginPolicy
	// MaxMessage bounds one POSTed message. If zero, 4 MiB.
	MaxMessage int64
	// MaxSessions bounds the open streams. If zero, 10000.
	MaxSessions int
	// KeepAlive is the interval of comment lines on an idle stream. If
	// zero, 25s.
	KeepAlive time.Duration
	// Logger receives failures. If nil, nothing is logged.
	Logger *slog.Logger
	// NewID, if set, names new sessions instead of 256 random bits: for
	// one that also names this replica, sealed, so that another replica
	// can forward the session's POSTs here. Ids must be unguessable and
	// at most 512 bytes of URL-safe text.
	NewID func() (string, error)
}

// Door is the HTTP+SSE front door of one route.
type Door struct {
	o        Options
	log      *slog.Logger
	mu       sync.Mutex
	sessions map[string]*session
	draining bool
}

// New returns a door.
func New(o Options) (*Door, error) {
	if o.Handler == nil || o.Principal == nil || !strings.HasPrefix(o.Path, "/") {
		return nil, errors.New("legacysse: Handler, Principal and an absolute Path are required")
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = 4 << 20
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 10000
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 25 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Door{o: o, log: log, sessions: map[string]*session{}}, nil
}

// Drain ends every session's stream and refuses new ones: the first step
// of graceful shutdown. The transport cannot resume a stream, so clients
// reconnect (on another replica) and initialize again.
func (d *Door) Drain() {
	d.mu.Lock()
	d.draining = true
	ss := make([]*session, 0, len(d.sessions))
	for _, s := range d.sessions {
		ss = append(ss, s)
	}
	d.mu.Unlock()
	for _, s := range ss {
		s.cancel()
	}
}

// SSEPath and MessagePath are where the door is mounted.
func (d *Door) SSEPath() string     { return d.o.Path + "/sse" }
func (d *Door) MessagePath() string { return d.o.Path + "/message" }

// Len returns the number of open sessions.
func (d *Door) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.sessions)
}

type session struct {
	id        string
	principal string
	ctx       context.Context
	cancel    context.CancelFunc
	out       chan []byte

	init      sync.RWMutex // held while initialize is relayed, read-held by other calls
	mu        sync.Mutex
	mcpID     string // the route's Mcp-Session-Id
	version   string
	listening bool
}

func (s *session) state() (id, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mcpID, s.version
}

// ServeHTTP implements http.Handler for SSEPath (GET) and MessagePath
// (POST).
func (d *Door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.o.Origin != nil {
		if err := d.o.Origin.Check(r); err != nil {
			http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
	}
	switch {
	case r.URL.Path == d.SSEPath() && r.Method == http.MethodGet:
		d.stream(w, r)
	case r.URL.Path == d.MessagePath() && r.Method == http.MethodPost:
		d.message(w, r)
	case r.URL.Path == d.SSEPath():
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	case r.URL.Path == d.MessagePath():
		w.Header().Set("Allow", "POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// stream serves GET <path>/sse: the session's life.
func (d *Door) stream(w http.ResponseWriter, r *http.Request) {
	// The session outlives no stream, but its calls run in contexts that
	// carry the caller's identity and credentials.
	id := newID()
	if d.o.NewID != nil {
		var err error
		if id, err = d.o.NewID(); err != nil {
			d.log.Error("legacy_sse: could not name a session", "err", err)
			http.Error(w, "could not open a session", http.StatusInternalServerError)
			return
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	s := &session{id: id, principal: d.o.Principal(r.Context()), ctx: ctx, cancel: cancel, out: make(chan []byte, 64)}
	d.mu.Lock()
	if d.draining || len(d.sessions) >= d.o.MaxSessions {
		d.mu.Unlock()
		cancel()
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many sessions", http.StatusServiceUnavailable)
		return
	}
	d.sessions[s.id] = s
	d.mu.Unlock()
	defer d.end(s, r)

	sw := transport.NewSSEWriter(w)
	if err := sw.Start(http.StatusOK); err != nil {
		return
	}
	// The first event names where to POST: a path-absolute URI on this
	// origin, so that it resolves against the stream's URL.
	ep := d.MessagePath() + "?sessionId=" + url.QueryEscape(s.id)
	if _, err := io.WriteString(w, "event: endpoint\ndata: "+ep+"\n\n"); err != nil {
		return
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	t := time.NewTicker(d.o.KeepAlive)
	defer t.Stop()
	for {
		select {
		case msg := <-s.out:
			if err := sw.Event("", msg); err != nil {
				return
			}
		case <-t.C:
			if err := sw.Comment(); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// end forgets a session whose stream closed and ends the route's session.
func (d *Door) end(s *session, r *http.Request) {
	d.mu.Lock()
	delete(d.sessions, s.id)
	d.mu.Unlock()
	s.cancel()
	id, version := s.state()
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	req := d.inner(ctx, r, http.MethodDelete, nil, id, version)
	d.o.Handler.ServeHTTP(discard{h: http.Header{}}, req)
}

// message serves POST <path>/message?sessionId=...
func (d *Door) message(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	s := d.sessions[r.URL.Query().Get("sessionId")]
	d.mu.Unlock()
	// A session answers only to its principal; to anyone else it does not
	// exist.
	if s == nil || s.principal != d.o.Principal(r.Context()) || s.ctx.Err() != nil {
		http.Error(w, "Could not find session", http.StatusNotFound)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.o.MaxMessage))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "message too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the message", http.StatusBadRequest)
		return
	}
	m, derr := jsonrpc.Decode(body, jsonrpc.Limits{})
	if derr != nil {
		// The route's handler answers batches and malformed messages
		// itself; only a single message's method matters here.
		m = &jsonrpc.Message{}
	}
	// The call runs with the caller's identity and credentials, for as
	// long as the session lives.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stop := context.AfterFunc(s.ctx, cancel)
	if m.Kind == jsonrpc.KindRequest && m.Method == mcp.MethodInitialize {
		// Answered before the 202, so that the session id is known to
		// every message that follows.
		s.init.Lock()
		d.relay(ctx, s, r, body, true)
		s.init.Unlock()
		stop()
		cancel()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "Accepted")
		return
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, "Accepted")
	go func() {
		defer cancel()
		defer stop()
		s.init.RLock() // after an initialize in flight
		defer s.init.RUnlock()
		d.relay(ctx, s, r, body, false)
	}()
}

// inner builds the in-process request to the route's handler.
func (d *Door) inner(ctx context.Context, outer *http.Request, method string, body []byte, sid, version string) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, d.o.Path, rd)
	req.Host = outer.Host
	req.RemoteAddr = outer.RemoteAddr
	req.RequestURI = d.o.Path
	for _, k := range []string{"Origin", "User-Agent", "Traceparent", "Tracestate"} {
		if v := outer.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	switch method {
	case http.MethodPost:
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	case http.MethodGet:
		req.Header.Set("Accept", "text/event-stream")
	}
	if sid != "" {
		req.Header.Set(mcp.HeaderSessionID, sid)
	}
	if mcp.IsSupported(version) {
		req.Header.Set(mcp.HeaderProtocolVersion, version)
	}
	return req
}

// relay sends one message to the route's handler and puts its answer on
// the session's stream.
func (d *Door) relay(ctx context.Context, s *session, outer *http.Request, body []byte, initialize bool) {
	sid, version := s.state()
	resp := d.call(ctx, d.inner(ctx, outer, http.MethodPost, body, sid, version))
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && sid != "" {
		// The route's session is gone: so is this one; the client
		// reconnects.
		s.cancel()
		return
	}
	if initialize && resp.StatusCode == http.StatusOK {
		s.mu.Lock()
		s.mcpID = resp.Header.Get(mcp.HeaderSessionID)
		s.mu.Unlock()
	}
	d.forward(ctx, s, resp, initialize)
	if initialize {
		if id, _ := s.state(); id != "" {
			go d.listen(s, outer)
		}
	}
}

// forward puts the messages of a handler's answer on the stream.
func (d *Door) forward(ctx context.Context, s *session, resp *http.Response, initialize bool) {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return
		}
		d.send(ctx, s, b, initialize)
	case "text/event-stream":
		rd := transport.NewSSEReader(resp.Body, 64<<20)
		for {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			if len(ev.Data) == 0 {
				continue // a priming event
			}
			if !d.send(ctx, s, ev.Data, initialize) {
				return
			}
		}
	}
}

func (d *Door) send(ctx context.Context, s *session, msg []byte, initialize bool) bool {
	if initialize {
		if m, err := jsonrpc.Decode(msg, jsonrpc.Limits{}); err == nil && m.Kind == jsonrpc.KindResponse && m.Result != nil {
			if v, ok := resultVersion(m.Result); ok {
				s.mu.Lock()
				s.version = v
				s.mu.Unlock()
			}
		}
	}
	select {
	case s.out <- msg:
		return true
	case <-ctx.Done():
		return false
	}
}

func resultVersion(result []byte) (string, bool) {
	v, ok := jsonx.Get(result, "protocolVersion")
	if !ok {
		return "", false
	}
	s, ok := jsonx.String(v)
	return s, ok && s != ""
}

// listen relays the route's standalone stream (server notifications and
// requests outside any call) for as long as the session lives.
func (d *Door) listen(s *session, outer *http.Request) {
	s.mu.Lock()
	if s.listening {
		s.mu.Unlock()
		return
	}
	s.listening = true
	s.mu.Unlock()
	sid, version := s.state()
	ctx := s.ctx
	resp := d.call(ctx, d.inner(ctx, outer, http.MethodGet, nil, sid, version))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	d.forward(ctx, s, resp, false)
}

// call runs the handler in process, returning as soon as it has answered
// with a status; the body streams.
func (d *Door) call(ctx context.Context, req *http.Request) *http.Response {
	if rl := transport.RequestLogFrom(req.Context()); rl != nil {
		// The client's request may be answered (and its access-log line
		// written) while this one runs on: it gets a record of its own,
		// with the same request id.
		req = req.WithContext(transport.WithRequestLog(req.Context(), &transport.RequestLog{ID: rl.ID}))
	}
	resp, err := transport.ServeInProcess(ctx, d.o.Handler, req, func(v any) {
		d.log.Error("legacy SSE relay: handler panicked", "panic", v)
	})
	if err != nil {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
	}
	return resp
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) WriteHeader(int)             {}
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
