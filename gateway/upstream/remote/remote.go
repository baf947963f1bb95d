package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// Options configures an upstream. Only URL is required.
type Options struct {
	// URL is the upstream's MCP endpoint.
	URL string
	// Client sends the requests. If nil, mcpfort's own HTTP/1.1 transport
	// is used (pooled keep-alive connections, no goroutines per
	// connection), or net/http's when a proxy is configured for the URL
	// in the environment.
	Client *http.Client
	// Authorize, if set, adds the gateway's own credentials for the
	// upstream to each request (a static secret, an exchanged token). The
	// client's credentials are never forwarded. key is upstream.Request.Key.
	Authorize func(ctx context.Context, r *http.Request, key string) error
	// MaxMessage bounds one JSON reply or one SSE event. If zero, 16 MiB.
	MaxMessage int
	// Logger receives upstream failures. If nil, nothing is logged.
	Logger *slog.Logger
}

// Upstream is a remote MCP server reached over Streamable HTTP.
type Upstream struct {
	url    string
	parsed *url.URL // never modified: shared by every request
	client *http.Client
	auth   func(context.Context, *http.Request, string) error
	max    int
	log    *slog.Logger
	// fast is mcpfort's own transport when the client is the default one
	// it built; POSTs then go out through rawPost (postHead is their
	// fixed start, postReq tells ReadResponse the method).
	fast     *h1
	postHead string
	postReq  *http.Request
}

var _ upstream.Upstream = (*Upstream)(nil)

// New returns an upstream for opts.URL.
func New(opts Options) (*Upstream, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote: upstream URL %q must be an absolute http or https URL", opts.URL)
	}
	c := opts.Client
	var fast *h1
	if c == nil {
		fast = newH1(u)
		var rt http.RoundTripper = fast
		if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
			rt, fast = NewTransport(), nil
		}
		c = &http.Client{Transport: rt}
	}
	// Never follow redirects: an upstream that redirects would otherwise
	// receive the request body and credentials at a URL nobody configured.
	cc := *c
	if cc.Transport == nil {
		cc.Transport = NewTransport()
	}
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	max := opts.MaxMessage
	if max <= 0 {
		max = 16 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	up := &Upstream{url: u.String(), parsed: u, client: &cc, auth: opts.Authorize, max: max, log: log}
	if head, ok := postHead(u); ok && fast != nil && opts.Authorize == nil {
		up.fast, up.postHead = fast, head
		up.postReq = &http.Request{Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Host: u.Host}
	}
	return up, nil
}

// NewTransport returns an http.Transport tuned for a gateway: many idle
// keep-alive connections per upstream host, bounded response headers.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    1024,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Header values shared by every request; never modified.
var (
	hvJSON        = []string{"application/json"}
	hvAcceptBoth  = []string{"application/json, text/event-stream"}
	hvAcceptSSE   = []string{"text/event-stream"}
	hvUserAgent   = []string{"mcpfort"}
	versionValues = func() map[string][]string {
		m := map[string][]string{}
		for _, v := range mcp.SupportedVersions() {
			m[v] = []string{v}
		}
		return m
	}()
)

func (u *Upstream) newRequest(ctx context.Context, method string, req *upstream.Request, body []byte) (*http.Request, error) {
	h := make(http.Header, len(req.Header)+6)
	for k, vs := range req.Header {
		h[k] = vs
	}
	hr := &http.Request{Method: method, URL: u.parsed, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Host: u.parsed.Host}
	if body != nil {
		hr.Body = io.NopCloser(bytes.NewReader(body))
		hr.ContentLength = int64(len(body))
		hr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	hr = hr.WithContext(ctx)
	h["User-Agent"] = hvUserAgent
	switch method {
	case http.MethodPost:
		h["Content-Type"] = hvJSON
		h["Accept"] = hvAcceptBoth
	case http.MethodGet:
		h["Accept"] = hvAcceptSSE
	}
	if req.Session != "" {
		h[mcp.HeaderSessionID] = []string{req.Session}
	}
	if req.ProtocolVersion != "" {
		if vv, ok := versionValues[req.ProtocolVersion]; ok {
			h[mcp.HeaderProtocolVersion] = vv
		} else {
			h[mcp.HeaderProtocolVersion] = []string{req.ProtocolVersion}
		}
	}
	if req.LastEventID != "" {
		h[mcp.HeaderLastEventID] = []string{req.LastEventID}
	}
	if u.auth != nil {
		if err := u.auth(ctx, hr, req.Key); err != nil {
			return nil, fmt.Errorf("remote: upstream credentials: %w", err)
		}
	}
	return hr, nil
}

// Post implements upstream.Upstream.
func (u *Upstream) Post(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	if u.fast != nil && (req.Body == nil || len(req.Body) > 0) {
		// The same bytes as below, written without an http.Request (an
		// empty body that is not nil goes out chunked below).
		resp, plain, ok, err := u.fast.roundTripPlain(ctx, u.postReq, &rawPost{head: u.postHead, req: req}, int64(u.max))
		if err != nil {
			var pe errPlainBody
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("remote: reading reply: %w", pe.err)
			}
			return nil, fmt.Errorf("remote: %w", err)
		}
		if ok && plain.stream {
			// What reply makes of a 200 text/event-stream answer.
			return u.streamReply(upstream.Info{Status: http.StatusOK, Session: plain.session, Stream: true, Whole: true},
				io.NopCloser(bytes.NewReader(plain.body))), nil
		}
		if ok {
			// What reply makes of a 200 application/json answer.
			return oneMessage(upstream.Info{Status: http.StatusOK, Session: plain.session}, plain.body), nil
		}
		return u.reply(req, resp)
	}
	hr, err := u.newRequest(ctx, http.MethodPost, req, req.Body)
	if err != nil {
		return nil, err
	}
	resp, err := u.do(hr)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	return u.reply(req, resp)
}

// plainReply holds a reply of one message and its event together.
type plainReply struct {
	r   upstream.StaticReply
	ev  upstream.Event
	evs [1]*upstream.Event
}

// oneMessage is the reply carrying one JSON message, made in one
// allocation.
func oneMessage(info upstream.Info, body []byte) upstream.Reply {
	pr := &plainReply{}
	pr.ev.Data = body
	pr.evs[0] = &pr.ev
	pr.r = upstream.StaticReply{I: info, Events: pr.evs[:]}
	return &pr.r
}

// streamReply is the reply reading an event stream from body.
func (u *Upstream) streamReply(info upstream.Info, body io.ReadCloser) *sseReply {
	return &sseReply{info: info, body: body, r: transport.NewSSEReader(body, u.max)}
}

// Get implements upstream.Upstream.
func (u *Upstream) Get(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	hr, err := u.newRequest(ctx, http.MethodGet, req, nil)
	if err != nil {
		return nil, err
	}
	resp, err := u.do(hr)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if resp.StatusCode == http.StatusMethodNotAllowed {
		drain(resp)
		return nil, upstream.ErrNotSupported
	}
	return u.reply(req, resp)
}

// Delete implements upstream.Upstream.
func (u *Upstream) Delete(ctx context.Context, req *upstream.Request) error {
	if req.Session == "" {
		return nil
	}
	hr, err := u.newRequest(ctx, http.MethodDelete, req, nil)
	if err != nil {
		return err
	}
	resp, err := u.do(hr)
	if err != nil {
		return fmt.Errorf("remote: %w", err)
	}
	drain(resp)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return upstream.ErrSessionGone
	case resp.StatusCode < 300, resp.StatusCode == http.StatusMethodNotAllowed:
		return nil
	}
	return fmt.Errorf("remote: DELETE answered %d", resp.StatusCode)
}

// Close implements upstream.Upstream.
func (u *Upstream) Close(context.Context) error {
	u.client.CloseIdleConnections()
	return nil
}

// do sends a request. The client never follows redirects, so its
// transport is called directly, without Client.Do's bookkeeping.
func (u *Upstream) do(req *http.Request) (*http.Response, error) {
	if u.client.Timeout == 0 && u.client.Jar == nil {
		return u.client.Transport.RoundTrip(req)
	}
	return u.client.Do(req)
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// ErrBadReply reports an upstream answer the gateway cannot relay.
var ErrBadReply = errors.New("remote: malformed upstream reply")

func (u *Upstream) reply(req *upstream.Request, resp *http.Response) (upstream.Reply, error) {
	info := upstream.Info{Status: resp.StatusCode}
	if sid := first(resp.Header[mcp.HeaderSessionID]); sid != "" {
		if !validSession(sid) {
			drain(resp)
			return nil, fmt.Errorf("%w: invalid Mcp-Session-Id", ErrBadReply)
		}
		info.Session = sid
	}
	ct := mediaType(first(resp.Header["Content-Type"]))
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusNoContent:
		drain(resp)
		info.Status = http.StatusAccepted
		return &upstream.StaticReply{I: info}, nil
	case resp.StatusCode == http.StatusNotFound && req.Session != "":
		drain(resp)
		return nil, upstream.ErrSessionGone
	case resp.StatusCode == http.StatusOK && ct == "text/event-stream":
		info.Stream = true
		// A chunked body keeps its *http.Response (for trailers), which
		// would keep the request and both header maps for as long as the
		// stream lasts, possibly hours for a GET; nothing reads them
		// again.
		resp.Request, resp.Header = nil, nil
		return u.streamReply(info, resp.Body), nil
	}
	limit := int64(u.max)
	if resp.StatusCode != http.StatusOK {
		limit = 64 << 10
	}
	body, err := readBody(resp, limit)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("remote: reading reply: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: reply larger than %d bytes", ErrBadReply, limit)
	}
	if resp.StatusCode == http.StatusOK {
		if ct != "application/json" {
			return nil, fmt.Errorf("%w: unexpected Content-Type %q", ErrBadReply, ct)
		}
		return oneMessage(info, body), nil
	}
	// An error status. Relay a JSON-RPC error body (the modern era's 400
	// and 404 carry meaning: -32020, -32022, -32601...) with the upstream's
	// status; anything else is the upstream failing.
	if ct == "application/json" && len(body) > 0 {
		if m, err := jsonrpc.Decode(body, jsonrpc.Limits{}); err == nil && m.Kind == jsonrpc.KindResponse && m.Error != nil {
			if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
				return oneMessage(info, body), nil
			}
		}
	}
	u.log.Warn("upstream error status", "status", resp.StatusCode, "content_type", ct)
	return nil, &StatusError{Status: resp.StatusCode}
}

// mediaType returns the media type of a Content-Type value, lowercased,
// without allocating for the usual spellings.
func mediaType(ct string) string {
	switch ct {
	case "application/json", "text/event-stream":
		return ct
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}

// readBody reads at most limit bytes (limit+1 tells the caller it was too
// long), in one allocation when the length is known.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= limit {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit+1))
}

// StatusError is an upstream HTTP failure without a relayable JSON-RPC body.
type StatusError struct{ Status int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("remote: upstream answered HTTP %d", e.Status)
}

// HTTPStatus returns the upstream's HTTP status, for callers that decide
// on it (an era probe, a bridge telling an unknown method from a failure).
func (e *StatusError) HTTPStatus() int { return e.Status }

type sseReply struct {
	info upstream.Info
	body io.ReadCloser
	r    *transport.SSEReader
}

func (s *sseReply) Info() upstream.Info { return s.info }

// Next returns the next event of the upstream's stream, parsed as a client
// parses it (transport.SSEReader, WHATWG HTML 9.2.6). Events of a type
// other than "message" carry no JSON-RPC message for an MCP client, which
// ignores them (2025-11-25 basic/transports "Streamable HTTP" sends
// messages as plain SSE events): their data is dropped, their id and
// retry hint kept. The gateway re-serializes every event it relays, so
// nothing of the upstream's bytes reaches the client unparsed.
func (s *sseReply) Next(ctx context.Context) (*upstream.Event, error) {
	for {
		ev, err := s.r.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("remote: reading stream: %w", err)
		}
		data := ev.Data
		if ev.Name != "" && ev.Name != "message" {
			data = nil
		}
		if data == nil && ev.ID == "" && ev.Retry == 0 {
			continue
		}
		return &upstream.Event{ID: ev.ID, Data: data, Retry: ev.Retry}, nil
	}
}

func (s *sseReply) Close() error { return s.body.Close() }

// first is Header.Get for a name already in canonical form (a constant):
// the field's first value, without canonicalizing the name on every call.
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
