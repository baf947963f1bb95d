package stdio

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Call is one client request in flight on an upstream process. Next yields,
// in order, the server messages that belong to it (notifications and
// server-to-client requests, ids already rewritten for the conn), then the
// response with the client's original id, then io.EOF.
//
// Next may be called from one goroutine at a time; Close may be called from
// any goroutine, concurrently with Next.
type Call struct {
	conn      *Conn    // nil for the pool's own initialize request
	proc      *process // nil for a response the pool made up
	upID      int64    // the id the process sees
	origID    jsonrpc.ID
	origToken []byte // the client's progress token, nil when none
	method    string
	maxBuf    int

	mu       sync.Mutex
	queue    []*jsonrpc.Message
	queued   int // bytes in queue
	resp     *jsonrpc.Message
	err      error
	finished bool // resp or err is set: nothing more is queued
	eof      bool // resp was returned by Next
	stop     func() bool
	signal   chan struct{} // capacity 1: "something changed"
	done     chan struct{} // closed when finished
}

func newCall(c *Conn, origID jsonrpc.ID, method string, maxBuf int) *Call {
	return &Call{conn: c, origID: origID, method: method, maxBuf: maxBuf, signal: make(chan struct{}, 1), done: make(chan struct{})}
}

// Done is closed when the call has ended (response, failure or
// cancellation); what Next has not yet returned is still there to read.
func (c *Call) Done() <-chan struct{} { return c.done }

// ID returns the client's id of the request.
func (c *Call) ID() jsonrpc.ID { return c.origID }

// Next returns the next message of the call. After the response it returns
// io.EOF. If the call failed it returns the failure after the messages queued
// before it: a *jsonrpc.Error with CodeUpstreamUnavailable when the process
// died, CodeUpstreamTimeout when the call's context deadline passed,
// CodeOverloaded when the reader fell too far behind (Options.MaxCallBuffer),
// or an error matching ErrCancelled. If ctx ends first, Next returns ctx.Err()
// and the call goes on.
func (c *Call) Next(ctx context.Context) (*jsonrpc.Message, error) {
	for {
		c.mu.Lock()
		switch {
		case len(c.queue) > 0:
			m := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.queued -= len(m.Raw)
			c.mu.Unlock()
			return m, nil
		case c.resp != nil:
			m := c.resp
			c.resp, c.eof = nil, true
			c.mu.Unlock()
			return m, nil
		case c.eof:
			c.mu.Unlock()
			return nil, io.EOF
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return nil, err
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close abandons the call if its response has not arrived: the process is
// sent notifications/cancelled (MCP 2025-11-25 basic/utilities/cancellation)
// and a late response is discarded. Messages not yet read are dropped. Close
// is idempotent and safe to call after the call finished.
func (c *Call) Close() {
	if c.proc != nil {
		c.proc.abandon(c, errCallClosed, true)
	}
	c.mu.Lock()
	c.queue, c.queued = nil, 0
	c.mu.Unlock()
}

var errCallClosed = errors.Join(ErrCancelled, errors.New("call closed"))

func (c *Call) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

type deliverResult uint8

const (
	queued deliverResult = iota
	late                 // the call is over; m was not queued
	full                 // the queue is at its bound; m was not queued
)

// deliver queues a server message for the call.
func (c *Call) deliver(m *jsonrpc.Message) deliverResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return late
	}
	if c.queued+len(m.Raw) > c.maxBuf {
		return full
	}
	c.queue = append(c.queue, m)
	c.queued += len(m.Raw)
	c.wake()
	return queued
}

// finish ends the call with its response or an error; the first ending wins.
func (c *Call) finish(resp *jsonrpc.Message, err error) {
	// The conn forgets the call before anyone can see it end, so the client
	// may reuse the id as soon as it has the response.
	if c.conn != nil {
		c.conn.forget(c)
	}
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	c.resp, c.err = resp, err
	stop := c.stop
	c.wake()
	close(c.done)
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// watch arranges for the end of ctx to abandon the call.
func (c *Call) watch(ctx context.Context) {
	if ctx.Done() == nil {
		return
	}
	stop := context.AfterFunc(ctx, func() {
		cause := error(errors.Join(ErrCancelled, ctx.Err()))
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cause = timeout("no response before the deadline")
		}
		c.proc.abandon(c, cause, true)
	})
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		stop()
		return
	}
	c.stop = stop
	c.mu.Unlock()
}

// cancelledParams builds the params of notifications/cancelled for the
// process's id of the call, keeping the client's reason when it gave one.
func (c *Call) cancelledParams(reason []byte) []byte {
	b := append([]byte(`{"requestId":`), strconv.FormatInt(c.upID, 10)...)
	if reason != nil {
		b = append(b, `,"reason":`...)
		b = append(b, reason...)
	}
	return append(b, '}')
}

// cancellable reports whether the request may be cancelled: MCP 2025-11-25
// basic/utilities/cancellation: "The initialize request MUST NOT be cancelled
// by clients".
func (c *Call) cancellable() bool { return c.method != mcp.MethodInitialize }
