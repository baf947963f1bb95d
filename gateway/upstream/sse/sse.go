package sse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// Options configures an Upstream. Only URL is required.
type Options struct {
	// URL is the server's SSE endpoint (the GET stream).
	URL string
	// Client sends the requests. If nil, a pooled net/http transport. Its
	// redirect policy is replaced: redirects are never followed.
	Client *http.Client
	// Authorize, if set, adds the gateway's own credentials for the
	// upstream to the GET and to every POST. The client's credentials are
	// never forwarded. key is upstream.Request.Key.
	Authorize func(ctx context.Context, r *http.Request, key string) error
	// MaxMessage bounds one SSE event. If zero, 16 MiB.
	MaxMessage int
	// MaxConnections bounds the open streams (sessions). If zero, 1000.
	MaxConnections int
	// IdleTimeout closes a stream with no pending request and no
	// standalone stream attached for this long. If zero, 10 minutes.
	IdleTimeout time.Duration
	// ConnectTimeout bounds the wait for the endpoint event. If zero, 30s.
	ConnectTimeout time.Duration
	// Logger receives upstream failures. If nil, nothing is logged.
	Logger *slog.Logger
}

// Upstream is a remote MCP server reached over HTTP+SSE.
type Upstream struct {
	o      Options
	sseURL *url.URL
	client *http.Client
	log    *slog.Logger

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool
	stop   chan struct{}
	reaped sync.WaitGroup
}

var _ upstream.Upstream = (*Upstream)(nil)

// ErrClosed reports a request to a closed upstream.
var ErrClosed = errors.New("sse: upstream closed")

// ErrForeignEndpoint reports an endpoint event naming another origin than
// the stream's: the upstream's credentials would go there.
var ErrForeignEndpoint = errors.New("sse: endpoint is not on the stream's origin")

// New returns an upstream for opts.URL and starts its idle reaper.
func New(o Options) (*Upstream, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sse: upstream URL %q must be an absolute http or https URL", o.URL)
	}
	c := o.Client
	if c == nil {
		c = &http.Client{Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:    64,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}}
	}
	cc := *c
	// Never follow redirects: the request body and the gateway's
	// credentials would go to a URL nobody configured.
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.MaxMessage <= 0 {
		o.MaxMessage = 16 << 20
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1000
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	up := &Upstream{o: o, sseURL: u, client: &cc, log: log, conns: map[string]*conn{}, stop: make(chan struct{})}
	up.reaped.Add(1)
	go up.reap()
	return up, nil
}

// Len returns the number of open streams.
func (u *Upstream) Len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.conns)
}

func (u *Upstream) reap() {
	defer u.reaped.Done()
	every := u.o.IdleTimeout / 4
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case now := <-t.C:
			var idle []*conn
			u.mu.Lock()
			for _, c := range u.conns {
				if c.idleSince(now) >= u.o.IdleTimeout {
					idle = append(idle, c)
				}
			}
			u.mu.Unlock()
			for _, c := range idle {
				u.log.Debug("closing idle upstream SSE stream")
				c.close()
			}
		}
	}
}

// conn is one GET stream: one upstream session.
type conn struct {
	u        *Upstream
	id       string // the session id handed to the gateway
	key      string
	endpoint *url.URL
	cancel   context.CancelFunc
	ready    chan struct{} // closed when the endpoint is known (or the stream ended)
	done     chan struct{} // closed when the stream ended
	err      error         // why, set before done is closed

	mu       sync.Mutex
	next     int64
	calls    map[string]*call // by upstream id (raw JSON)
	progress map[string]*call // by progress token (raw JSON)
	server   chan *upstream.Event
	attached bool // a standalone stream reads server
	last     time.Time
}

// call is one pending request.
type call struct {
	id    jsonrpc.ID // the gateway's id
	upID  string     // the id sent upstream
	token string     // progress token, raw JSON ("" if none)
	notes chan *upstream.Event
	fin   chan struct{}
	final *upstream.Event
}

func (c *conn) idleSince(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.calls) > 0 || c.attached {
		return 0
	}
	return now.Sub(c.last)
}

func (c *conn) touch() {
	c.mu.Lock()
	c.last = time.Now()
	c.mu.Unlock()
}

// close ends the stream; pending requests fail.
func (c *conn) close() {
	c.cancel()
	<-c.done
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "sse-" + hex.EncodeToString(b)
}

// open starts a stream and waits for its endpoint.
func (u *Upstream) open(ctx context.Context, key string) (*conn, error) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, ErrClosed
	}
	if len(u.conns) >= u.o.MaxConnections {
		u.mu.Unlock()
		return nil, jsonrpc.NewError(jsonrpc.CodeOverloaded, "upstream server has too many open sessions; retry later")
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &conn{u: u, id: newSessionID(), key: key, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{}),
		calls: map[string]*call{}, progress: map[string]*call{}, server: make(chan *upstream.Event, 64), last: time.Now()}
	u.conns[c.id] = c
	u.mu.Unlock()

	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.sseURL.String(), nil)
	if err == nil {
		hr.Header.Set("Accept", "text/event-stream")
		hr.Header.Set("Cache-Control", "no-cache")
		hr.Header.Set("User-Agent", "mcpfort")
		if u.o.Authorize != nil {
			if aerr := u.o.Authorize(ctx, hr, key); aerr != nil {
				err = fmt.Errorf("sse: upstream credentials: %w", aerr)
			}
		}
	}
	if err != nil {
		u.forget(c)
		cancel()
		return nil, err
	}
	// The stream outlives the request that opened it.
	resp, err := u.client.Do(hr.WithContext(cctx))
	if err != nil {
		u.forget(c)
		cancel()
		return nil, fmt.Errorf("sse: GET %s: %w", u.sseURL.Redacted(), err)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		u.forget(c)
		cancel()
		return nil, fmt.Errorf("sse: GET %s answered %d %q, want 200 text/event-stream", u.sseURL.Redacted(), resp.StatusCode, ct)
	}
	go c.read(resp.Body)
	t := time.NewTimer(u.o.ConnectTimeout)
	defer t.Stop()
	select {
	case <-c.ready:
	case <-t.C:
		c.close()
		return nil, errors.New("sse: no endpoint event in time")
	case <-ctx.Done():
		c.close()
		return nil, ctx.Err()
	}
	if c.endpoint == nil {
		<-c.done
		return nil, c.err
	}
	return c, nil
}

func (u *Upstream) forget(c *conn) {
	u.mu.Lock()
	if u.conns[c.id] == c {
		delete(u.conns, c.id)
	}
	u.mu.Unlock()
}

// read consumes the stream until it ends, then fails what is pending.
func (c *conn) read(body io.ReadCloser) {
	err := c.readEvents(body)
	body.Close()
	c.cancel()
	if errors.Is(err, context.Canceled) {
		err = io.EOF
	}
	c.err = fmt.Errorf("sse: upstream stream ended: %w", err)
	if c.endpoint == nil {
		close(c.ready)
	}
	c.u.forget(c)
	close(c.done)
	c.u.log.Debug("upstream SSE stream ended", "err", err)
}

func (c *conn) readEvents(body io.Reader) error {
	r := transport.NewSSEReader(body, c.u.o.MaxMessage)
	for {
		ev, err := r.Next()
		if err != nil {
			return err
		}
		if ev.Data == nil {
			continue
		}
		switch ev.Name {
		case "endpoint":
			if c.endpoint != nil {
				continue // only the first one counts
			}
			ep, err := c.u.resolveEndpoint(string(bytes.TrimSpace(ev.Data)))
			if err != nil {
				return err
			}
			c.endpoint = ep
			close(c.ready)
		case "", "message":
			if c.endpoint == nil {
				continue // nothing can be pending before the endpoint
			}
			c.dispatch(ev.Data)
		}
	}
}

// resolveEndpoint resolves the endpoint event's URI against the stream's
// URL (2024-11-05 basic/transports "HTTP with SSE": the server "MUST send
// an endpoint event containing a URI for the client to use for sending
// messages") and refuses one on another origin (scheme, host and port,
// RFC 6454 section 4): the POSTs carry the gateway's credentials.
func (u *Upstream) resolveEndpoint(data string) (*url.URL, error) {
	ref, err := url.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("sse: malformed endpoint %q: %w", data, err)
	}
	ep := u.sseURL.ResolveReference(ref)
	if !sameOrigin(ep, u.sseURL) {
		return nil, fmt.Errorf("%w: %q", ErrForeignEndpoint, ep.Redacted())
	}
	ep.Fragment, ep.RawFragment = "", ""
	return ep, nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b) && a.User == nil
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// dispatch routes one server message.
func (c *conn) dispatch(data []byte) {
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil {
		c.u.log.Debug("upstream SSE stream sent a malformed message", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Kind {
	case jsonrpc.KindResponse:
		cl := c.calls[m.ID.Raw()]
		if cl == nil {
			return // an answer nobody waits for any more
		}
		c.remove(cl)
		raw, err := m.WithID(cl.id)
		if err != nil {
			return
		}
		mm, err := jsonrpc.Decode(raw, jsonrpc.Limits{})
		if err != nil {
			return
		}
		cl.final = upstream.DecodedEvent("", mm)
		close(cl.fin)
		return
	case jsonrpc.KindNotification:
		if tok := progressToken(m.Params); tok != "" {
			if cl := c.progress[tok]; cl != nil {
				select {
				case cl.notes <- upstream.DecodedEvent("", m):
				default: // a reader that does not keep up loses progress, not the answer
				}
				return
			}
		}
	}
	select {
	case c.server <- upstream.DecodedEvent("", m):
	default:
		c.u.log.Debug("upstream SSE server message dropped: no standalone stream reads them", "method", m.Method)
	}
}

// remove forgets a call; c.mu is held.
func (c *conn) remove(cl *call) {
	delete(c.calls, cl.upID)
	if cl.token != "" && c.progress[cl.token] == cl {
		delete(c.progress, cl.token)
	}
	c.last = time.Now()
}

// progressToken returns params.progressToken (notifications/progress) or
// params._meta.progressToken, raw, or "".
func progressToken(params []byte) string {
	if !jsonx.IsObject(params) {
		return ""
	}
	if v, ok := jsonx.Get(params, "progressToken"); ok {
		return string(bytes.TrimSpace(v))
	}
	if meta, ok := jsonx.Get(params, "_meta"); ok && jsonx.IsObject(meta) {
		if v, ok := jsonx.Get(meta, "progressToken"); ok {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

func (u *Upstream) conn(session string) (*conn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, ErrClosed
	}
	c := u.conns[session]
	if c == nil {
		return nil, upstream.ErrSessionGone
	}
	return c, nil
}

// Post implements upstream.Upstream.
func (u *Upstream) Post(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	m, err := req.Message()
	if err != nil {
		return nil, err
	}
	var c *conn
	if req.Session == "" {
		if m.Kind != jsonrpc.KindRequest || m.Method != mcp.MethodInitialize {
			// The transport has no stateless mode: everything happens
			// inside a stream opened by initialize.
			return nil, upstream.ErrSessionGone
		}
		if c, err = u.open(ctx, req.Key); err != nil {
			return nil, err
		}
	} else if c, err = u.conn(req.Session); err != nil {
		return nil, err
	}
	c.touch()
	if m.Kind != jsonrpc.KindRequest {
		body := m.Raw
		if m.Kind == jsonrpc.KindNotification && m.Method == mcp.NotificationCancelled {
			body = c.cancelled(m)
		}
		if err := c.post(ctx, req.Key, body); err != nil {
			return nil, err
		}
		return upstream.Accepted(), nil
	}
	cl := &call{id: m.ID, notes: make(chan *upstream.Event, 64), fin: make(chan struct{})}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, upstream.ErrSessionGone
	default:
	}
	c.next++
	cl.upID = strconv.FormatInt(c.next, 10)
	if tok := progressToken(m.Params); tok != "" && c.progress[tok] == nil {
		cl.token = tok
		c.progress[tok] = cl
	}
	c.calls[cl.upID] = cl
	c.mu.Unlock()
	body, err := m.WithID(jsonrpc.Int64ID(c.next))
	if err == nil {
		err = c.post(ctx, req.Key, body)
	}
	if err != nil {
		c.mu.Lock()
		c.remove(cl)
		c.mu.Unlock()
		if req.Session == "" {
			c.close()
		}
		return nil, err
	}
	return &reply{c: c, cl: cl, session: c.id}, nil
}

// cancelled rewrites notifications/cancelled to name the upstream id of
// the request it cancels (2024-11-05 basic/utilities/cancellation).
func (c *conn) cancelled(m *jsonrpc.Message) []byte {
	rid, ok := jsonx.Get(m.Params, "requestId")
	if !ok {
		return m.Raw
	}
	want := string(bytes.TrimSpace(rid))
	c.mu.Lock()
	var up string
	for _, cl := range c.calls {
		if cl.id.Raw() == want {
			up = cl.upID
			break
		}
	}
	c.mu.Unlock()
	if up == "" {
		return m.Raw
	}
	params, err := jsonx.Set(m.Params, "requestId", []byte(up))
	if err != nil {
		return m.Raw
	}
	out, err := jsonx.Set(m.Raw, "params", params)
	if err != nil {
		return m.Raw
	}
	return out
}

// post sends one message to the endpoint. The server answers 202 (or 200)
// and sends any response on the stream; the body is ignored.
func (c *conn) post(ctx context.Context, key string, body []byte) error {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "mcpfort")
	if c.u.o.Authorize != nil {
		if err := c.u.o.Authorize(ctx, hr, key); err != nil {
			return fmt.Errorf("sse: upstream credentials: %w", err)
		}
	}
	resp, err := c.u.client.Do(hr)
	if err != nil {
		return fmt.Errorf("sse: POST: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		// The server forgot the session: so do we.
		go c.close()
		return upstream.ErrSessionGone
	}
	return fmt.Errorf("sse: POST answered %d", resp.StatusCode)
}

// reply is the answer to one request: its progress notifications, then
// its response.
type reply struct {
	c       *conn
	cl      *call
	session string
	done    bool
}

func (r *reply) Info() upstream.Info {
	return upstream.Info{Status: http.StatusOK, Lazy: true, Session: r.session}
}

func (r *reply) Next(ctx context.Context) (*upstream.Event, error) {
	if r.done {
		return nil, io.EOF
	}
	cl := r.cl
	select {
	case ev := <-cl.notes:
		return ev, nil
	default:
	}
	select {
	case ev := <-cl.notes:
		return ev, nil
	case <-cl.fin:
		select {
		case ev := <-cl.notes:
			return ev, nil
		default:
		}
		r.done = true
		return cl.final, nil
	case <-r.c.done:
		select {
		case <-cl.fin:
			r.done = true
			return cl.final, nil
		default:
		}
		r.done = true
		e := jsonrpc.NewError(jsonrpc.CodeUpstreamUnavailable, "upstream server closed its event stream before answering")
		return &upstream.Event{Data: jsonrpc.AppendErrorResponse(nil, cl.id, e)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *reply) Close() error {
	c := r.c
	c.mu.Lock()
	if c.calls[r.cl.upID] == r.cl {
		c.remove(r.cl)
	}
	c.mu.Unlock()
	return nil
}

// Get implements upstream.Upstream: the session's server messages that
// belong to no pending request. One standalone stream at a time; there
// is no resumption.
func (u *Upstream) Get(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	if req.LastEventID != "" {
		return nil, upstream.ErrNotSupported
	}
	c, err := u.conn(req.Session)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.attached {
		return nil, jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "a standalone stream is already open for this session")
	}
	c.attached = true
	return &standalone{c: c}, nil
}

type standalone struct {
	c    *conn
	once sync.Once
}

func (s *standalone) Info() upstream.Info {
	return upstream.Info{Status: http.StatusOK, Stream: true}
}

func (s *standalone) Next(ctx context.Context) (*upstream.Event, error) {
	select {
	case ev := <-s.c.server:
		return ev, nil
	default:
	}
	select {
	case ev := <-s.c.server:
		return ev, nil
	case <-s.c.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *standalone) Close() error {
	s.once.Do(func() {
		s.c.mu.Lock()
		s.c.attached = false
		s.c.last = time.Now()
		s.c.mu.Unlock()
	})
	return nil
}

// Delete implements upstream.Upstream: it closes the session's stream,
// which ends the session on the server.
func (u *Upstream) Delete(ctx context.Context, req *upstream.Request) error {
	c, err := u.conn(req.Session)
	if err != nil {
		if errors.Is(err, upstream.ErrSessionGone) {
			return nil
		}
		return err
	}
	c.close()
	return nil
}

// Close implements upstream.Upstream: every stream ends.
func (u *Upstream) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	close(u.stop)
	conns := make([]*conn, 0, len(u.conns))
	for _, c := range u.conns {
		conns = append(conns, c)
	}
	u.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	u.reaped.Wait()
	return nil
}
