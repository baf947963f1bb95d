package gateway

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// heldStream relays a legacy session's GET stream (2025-11-25 transports
// "Listening for Messages from the Server") on the client connection taken
// over from net/http, so that a stream that waits, usually for a long time,
// holds only what relaying it needs: the server's per-connection buffers
// (4 KiB to read, 4 KiB and 2 KiB to write), its handler goroutine with the
// stack the request's handling grew, and its background reader are all
// released when the handler returns. A goroutine that starts with a small
// stack relays the events as relay does; the client hanging up ends the
// stream (watchHangup: one epoll set for all held streams on Linux, else a
// goroutine per stream blocked in a one-byte read). Between events the
// upstream side holds no read buffer either (remote's streamBody and
// transport.SSEReader wait for input before taking one from a pool).
//
// The response headers and status go out through the usual writer first, so
// every wrapper (security headers, status for logs and metrics) sees them.
// The body keeps the HTTP/1.1 chunked framing net/http chose for it (RFC
// 9112 section 7.1) and ends with the last chunk. It applies to HTTP/1.1
// only, when the writer can be taken over and the upstream answered with an
// event stream.
type heldStream struct {
	ctx    context.Context // for the upstream request: outlives the handler once taken
	cancel context.CancelFunc
	stop   func() bool // unties ctx from the request's context
	taken  bool
}

// holdable returns a heldStream whose context serves the GET's upstream
// request, or nil when the stream cannot be taken over. The caller must
// call release when the handler returns.
func (g *Gateway) holdable(w http.ResponseWriter, r *http.Request) *heldStream {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || !hijackable(w) || g.drainCtx.Err() != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	return &heldStream{ctx: ctx, cancel: cancel, stop: context.AfterFunc(r.Context(), cancel)}
}

// release ends the context unless take took the stream.
func (h *heldStream) release() {
	if !h.taken {
		h.stop()
		h.cancel()
	}
}

// take relays reply on the taken-over connection; it reports whether it
// took the reply (then it answered).
func (h *heldStream) take(g *Gateway, w http.ResponseWriter, reply upstream.Reply) bool {
	if !reply.Info().Stream {
		return false
	}
	if err := transport.NewSSEWriter(w).Start(http.StatusOK); err != nil {
		reply.Close()
		return true
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// The headers are out: relay the rest through the writer.
		_ = g.relay(h.ctx, startedWriter{w}, reply, nil, mcp.EraLegacy)
		return true
	}
	// From here the stream ends when the client hangs up, or when Drain
	// or the upstream ends it; not when the handler returns.
	h.taken = true
	h.stop()
	ctx, cancel := h.ctx, h.cancel
	hw := &heldWriter{c: conn}
	g.streamMu.Lock()
	g.held++
	g.streamMu.Unlock()
	// Nothing is expected from the client while it listens: any byte,
	// EOF or error means it is gone.
	unwatch, ok := watchHangup(conn, cancel)
	if !ok {
		unwatch = func() {}
		go func() {
			var b [1]byte
			_, _ = conn.Read(b[:])
			cancel()
		}()
	}
	go func() {
		defer cancel()
		_ = g.relay(ctx, hw, reply, nil, mcp.EraLegacy)
		unwatch()
		hw.end()
		g.streamMu.Lock()
		if g.held--; g.held == 0 && g.heldDone != nil {
			close(g.heldDone)
			g.heldDone = nil
		}
		g.streamMu.Unlock()
	}()
	return true
}

// hijackable reports whether w, or a writer it wraps (Unwrap, as
// http.ResponseController follows), can hand over its connection.
func hijackable(w http.ResponseWriter) bool {
	for {
		if _, ok := w.(http.Hijacker); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// startedWriter is a writer whose headers were already written.
type startedWriter struct{ http.ResponseWriter }

func (startedWriter) WriteHeader(int) {}

func (w startedWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// heldWriter writes a taken-over response body as HTTP/1.1 chunks, one
// chunk per Write and straight to the connection: nothing is buffered, so
// Flush has nothing to do. Headers were sent before the takeover.
type heldWriter struct {
	c   net.Conn
	err error
}

// heldEndTimeout bounds writing the end of a stream (a retry hint, the last
// chunk) to a client that no longer reads.
const heldEndTimeout = 5 * time.Second

func (w *heldWriter) Header() http.Header { return http.Header{} }

func (w *heldWriter) WriteHeader(int) {}

func (w *heldWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		return 0, nil // an empty chunk would end the body
	}
	var size [18]byte
	hdr := append(strconv.AppendInt(size[:0], int64(len(p)), 16), '\r', '\n')
	bufs := net.Buffers{hdr, p, crlf}
	if _, err := bufs.WriteTo(w.c); err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

var crlf = []byte("\r\n")

func (w *heldWriter) FlushError() error { return w.err }

// end writes the last chunk and closes the connection.
func (w *heldWriter) end() {
	if w.err == nil {
		_ = w.c.SetWriteDeadline(time.Now().Add(heldEndTimeout))
		_, _ = w.c.Write([]byte("0\r\n\r\n"))
	}
	_ = w.c.Close()
}
