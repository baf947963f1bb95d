package remote

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// h1 is a lean HTTP/1.1 client transport for one upstream origin. Unlike
// net/http's Transport it runs no goroutines per connection: the calling
// goroutine writes the request and reads the response on a pooled
// keep-alive connection, which halves the goroutine hand-offs of a proxied
// call and the memory of a held stream. Request and response framing are
// net/http's own (Request.Write, ReadResponse).
type h1 struct {
	addr    string // host:port to dial
	tls     *tls.Config
	dialer  net.Dialer
	maxIdle int
	idleTTL time.Duration

	mu   sync.Mutex
	idle []*h1conn
}

type h1conn struct {
	c     net.Conn
	br    *bufio.Reader // nil after an event stream's head: taken again for the next request
	probe *prober       // made when the connection is first reused
	// abort unblocks whatever the connection is doing (a request's
	// context was cancelled): made once, run by context.AfterFunc.
	abort    func()
	lastUsed time.Time
	// written counts the bytes of the current request that reached the
	// connection: once any has, the request may have been served.
	written int64
}

// countingWriter is the connection as its buffered writer sees it.
type countingWriter struct{ pc *h1conn }

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.pc.c.Write(p)
	w.pc.written += int64(n)
	return n, err
}

// newH1 returns a transport for the origin of u.
func newH1(u *url.URL) *h1 {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	t := &h1{
		addr:    net.JoinHostPort(u.Hostname(), port),
		dialer:  net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second},
		maxIdle: 1024,
		// Below the 5s keep-alive timeout common in upstream servers, so an
		// idle connection is dropped here before the server drops it.
		idleTTL: 4 * time.Second,
	}
	if u.Scheme == "https" {
		t.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	return t
}

// get returns an idle connection that is still open, or a new one.
func (t *h1) get(ctx context.Context) (*h1conn, bool, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		pc := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		// Every reused connection is probed (one non-blocking peek): a
		// request written to a connection the server already closed could
		// not be sent again safely, so such connections must not be used.
		if now.Sub(pc.lastUsed) < t.idleTTL && pc.alive() {
			return pc, true, nil
		}
		pc.c.Close()
	}
	c, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, false, err
	}
	if t.tls != nil {
		tc := tls.Client(c, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, false, err
		}
		c = tc
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(c)
	pc := &h1conn{c: c, br: br}
	pc.abort = func() { _ = pc.c.SetDeadline(time.Unix(1, 0)) }
	return pc, false, nil
}

// alive reports whether an idle connection is still open: the server has
// neither closed it nor sent anything unasked.
func (pc *h1conn) alive() bool {
	if pc.br != nil && pc.br.Buffered() > 0 {
		return false
	}
	if pc.probe == nil {
		pc.probe = newProber(pc.c)
	}
	return pc.probe.idle()
}

func (t *h1) put(pc *h1conn) {
	pc.lastUsed = time.Now()
	t.mu.Lock()
	if len(t.idle) < t.maxIdle {
		t.idle = append(t.idle, pc)
		pc = nil
	}
	t.mu.Unlock()
	if pc != nil {
		pc.c.Close()
	}
}

// CloseIdleConnections closes the pooled connections.
func (t *h1) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// RoundTrip implements http.RoundTripper.
func (t *h1) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTrip(req.Context(), req, nil)
}

// roundTrip sends req under ctx. With raw set, raw writes the request's
// bytes instead (req, never modified, then only tells ReadResponse the
// method, and must carry no Body): a request built without an
// http.Request, which may be written again on a new connection if none of
// its bytes reached a stale one.
func (t *h1) roundTrip(ctx context.Context, req *http.Request, raw *rawPost) (*http.Response, error) {
	resp, _, _, err := t.roundTripPlain(ctx, req, raw, -1)
	return resp, err
}

// plainBody is the body of an answer whose head peekPlainHead read: status
// 200, application/json or (when it had all arrived already)
// text/event-stream, read to its Content-Length.
type plainBody struct {
	session string // Mcp-Session-Id, if any
	body    []byte
	stream  bool // text/event-stream
}

// errPlainBody wraps a failure to read a plain answer's body: the head
// was read, so the request was served and is not sent again.
type errPlainBody struct{ err error }

func (e errPlainBody) Error() string { return e.err.Error() }
func (e errPlainBody) Unwrap() error { return e.err }

// roundTripPlain is roundTrip, except that an answer peekPlainHead
// recognizes, with a body of at most max bytes (max < 0: never), is read
// whole into plain instead of a Response, and its connection returned to
// the pool at once (ok true).
func (t *h1) roundTripPlain(ctx context.Context, req *http.Request, raw *rawPost, max int64) (resp *http.Response, plain plainBody, ok bool, err error) {
	for attempt := 0; ; attempt++ {
		pc, reused, err := t.get(ctx)
		if err != nil {
			return nil, plain, false, err
		}
		// A cancelled context unblocks whatever the connection is doing.
		stop := context.AfterFunc(ctx, pc.abort)
		resp, plain, ok, err := t.exchange(pc, req, raw, max)
		if err == nil && ok {
			// stop reports false once the deadline was (or is being) set:
			// the connection is then closed, never pooled.
			if !stop() || req.Close {
				pc.c.Close()
			} else {
				t.put(pc)
			}
			return nil, plain, true, nil
		}
		if err == nil {
			b := &h1body{rc: resp.Body, t: t, pc: pc, stop: stop, reusable: !resp.Close && !req.Close, remaining: resp.ContentLength}
			if eventStream(resp) {
				// Read straight from the connection (streamBody), so that
				// a stream waiting for events holds no read buffer.
				if b.sb = newStreamBody(pc, resp); b.sb != nil {
					b.rc = b.sb
				}
			}
			resp.Body = b
			return resp, plain, false, nil
		}
		stop()
		pc.c.Close()
		var pe errPlainBody
		if errors.As(err, &pe) {
			return nil, plain, false, err
		}
		if ctx.Err() != nil {
			return nil, plain, false, ctx.Err()
		}
		// A reused connection the server closed just as we wrote. If no
		// byte of the request reached it, the request was not served:
		// send it again on a new connection. Once any byte was written
		// the server may have acted on it (a tools/call could run twice),
		// so only a request that may be repeated is: net/http's rule
		// (Transport, shouldRetryRequest).
		var nr errNoResponse
		if reused && attempt == 0 && errors.As(err, &nr) && (!nr.written || replayable(req)) && (req.Body == nil || req.GetBody != nil) {
			if req.Body == nil {
				continue
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, plain, false, err
			}
			req = req.Clone(ctx)
			req.Body = body
			continue
		}
		return nil, plain, false, err
	}
}

// replayable reports whether a request may be sent twice: an idempotent
// method without a body (RFC 9110 section 9.2.2).
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return req.Body == nil || req.Body == http.NoBody
	}
	return false
}

// errNoResponse: the exchange failed before any byte of a response;
// written tells whether any byte of the request reached the connection.
type errNoResponse struct {
	err     error
	written bool
}

func (e errNoResponse) Error() string {
	return "upstream closed the connection before responding: " + e.err.Error()
}
func (e errNoResponse) Unwrap() error { return e.err }

// writers holds the request write buffers.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1024) }}

func (t *h1) exchange(pc *h1conn, req *http.Request, raw *rawPost, max int64) (resp *http.Response, plain plainBody, ok bool, err error) {
	pc.written = 0
	// The write buffer is only needed while the request is written: a
	// connection holding a long response (a held event stream) or waiting
	// in the pool keeps none.
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(countingWriter{pc})
	if raw != nil {
		err = raw.writeRequest(bw)
	} else {
		err = req.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	if err != nil {
		return nil, plain, false, errNoResponse{err, pc.written > 0}
	}
	if pc.br == nil {
		pc.br = readers.Get().(*bufio.Reader)
		pc.br.Reset(pc.c)
	}
	if _, err := pc.br.Peek(1); err != nil {
		return nil, plain, false, errNoResponse{err, pc.written > 0}
	}
	if max >= 0 && req.Method != http.MethodHead {
		// An event stream is taken only when all of it is in the buffer:
		// its events are relayed as they come, not once the last is in.
		if h, ok := peekPlainHead(pc.br); ok && h.contentLength <= max && !h.close && validSession(h.session) &&
			(!h.stream || int64(pc.br.Buffered()-h.n) >= h.contentLength) {
			plain.stream = h.stream
			plain.body = make([]byte, h.contentLength)
			if len(h.session) > 0 {
				plain.session = string(h.session)
			}
			_, _ = pc.br.Discard(h.n)
			if _, err := io.ReadFull(pc.br, plain.body); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, plain, false, errPlainBody{err}
			}
			return nil, plain, true, nil
		}
	}
	resp, err = http.ReadResponse(pc.br, req)
	return resp, plain, false, err
}

// validSession reports whether an Mcp-Session-Id value (or its absence)
// is one a reply accepts: at most 1 KiB of visible ASCII. An answer read
// the plain way whose value is not goes the slow way, which refuses it.
func validSession[T string | []byte](v T) bool {
	if len(v) > 1024 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// h1body returns the connection to the pool once the body has been read to
// its end; a body closed early (a stream the client left) closes it.
type h1body struct {
	rc       io.ReadCloser
	sb       *streamBody // rc, when it reads an event stream
	t        *h1
	pc       *h1conn
	stop     func() bool
	reusable bool
	// remaining counts down a known Content-Length (-1: unknown), so that a
	// body read exactly to its length releases the connection without
	// the extra Read that would see EOF.
	remaining int64
	done      bool
	mu        sync.Mutex
}

func (b *h1body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.account(n, err)
	return n, err
}

// ReadReady implements transport.ReadyReader: an event stream's body
// waits for input holding no buffer; any other body takes one first.
func (b *h1body) ReadReady(get func() []byte, put func([]byte)) ([]byte, int, error) {
	var p []byte
	var n int
	var err error
	if b.sb != nil {
		p, n, err = b.sb.ReadReady(get, put)
	} else {
		p, n, err = readTaking(b.rc, get, -1)
	}
	b.account(n, err)
	return p, n, err
}

// account counts down a known length and releases the connection at the
// body's end or failure.
func (b *h1body) account(n int, err error) {
	if b.remaining > 0 {
		b.remaining -= int64(n)
	}
	switch {
	case err == io.EOF || b.remaining == 0:
		b.finish(true)
	case err != nil:
		b.finish(false)
	}
}

func (b *h1body) Close() error {
	b.finish(b.remaining == 0)
	return nil
}

func (b *h1body) finish(complete bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	cancelled := !b.stop()
	if complete && b.reusable && !cancelled && (b.sb == nil || b.sb.reusable()) {
		b.t.put(b.pc)
		return
	}
	b.pc.c.Close()
}
