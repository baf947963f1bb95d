package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/auditnote"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/jcs"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Sink is where the log appends records: a *Store.
type Sink interface {
	// Append chains and durably writes records, filling in Seq, PrevHash
	// and Hash, or writes none of them. A record whose AnswerKey the log
	// already holds is left out (its Seq stays 0).
	Append(ctx context.Context, recs []Record) error
}

var _ Sink = (*Store)(nil)

// Options configures a Log. Sink is required; every other zero value is a
// documented default.
type Options struct {
	// Sink receives the records.
	Sink Sink
	// QueueSize bounds the records admitted and not yet written. If zero,
	// 8192.
	QueueSize int
	// QueueWait is how long a call waits for room in a full queue (the
	// writer falling behind a burst) before it is refused. If zero, 2s.
	QueueWait time.Duration
	// BatchSize bounds the records written in one transaction. If zero,
	// 512.
	BatchSize int
	// BatchDelay is how long the writer waits, after a record arrives,
	// for more to share its transaction. A transaction per record costs
	// more than the records themselves under steady load. If zero, 2ms
	// with ReplyBeforeWrite and none without (responses wait for the
	// write; records that arrive during a transaction share the next);
	// negative writes at once.
	BatchDelay time.Duration
	// ShareWait is how long, at most, the writer holds a transaction for
	// records that are coming, while responses wait for their records (no
	// ReplyBeforeWrite, BatchDelay not positive): those of the calls
	// admitted since the last batch was closed, or as many as the last
	// transaction answered calls (their clients, when busy, call again),
	// so that concurrent calls share one transaction instead of each
	// paying for its own (with SQLite, a transaction costs several times
	// what a record does). The wait ends as soon as they are in: a lone
	// call never waits, and a call under way for longer than a batch (a
	// long stream) holds back at most one. A response waits at most this
	// much longer. If zero, 1ms; negative writes what is queued at once.
	ShareWait time.Duration
	// ReplyBeforeWrite lets a call's response go to the client as soon as
	// its record is queued. By default the response waits until the
	// record is durably written (at most WriteWait), so that a process
	// killed at any moment has recorded every call a client saw answered.
	ReplyBeforeWrite bool
	// WriteWait bounds how long a response waits for its record while
	// the sink fails; the response then goes out and the record is
	// written when the sink recovers. If zero, 10s.
	WriteWait time.Duration
	// AllowUnrecorded lets calls through when they cannot be recorded
	// (the queue is full or the sink is failing); they are counted in
	// Stats.Unrecorded and logged. Insecure; by default such calls are
	// refused with HTTP 503 and jsonrpc.CodeOverloaded.
	AllowUnrecorded bool
	// RecordArguments and RecordResults store the call's arguments and the
	// response's result (or error), as Mask returns them. Mask is then
	// required.
	RecordArguments, RecordResults bool
	// Mask rewrites arguments and results before they are stored (the pii
	// policy's LogJSON fits). It must return valid JSON.
	Mask func([]byte) []byte
	// MaxRecorded bounds the bytes of arguments or result kept per record;
	// longer values are replaced by a note of their size. If zero, 16 KiB.
	MaxRecorded int
	// RequestID returns the edge's request id for a call's context. If nil,
	// records carry only the JSON-RPC id.
	RequestID func(context.Context) string
	// TraceID returns the W3C trace id of a call's context (hex), so a
	// record leads to its trace. If nil, records carry none.
	TraceID func(context.Context) string
	// Heads, if set, receives the chain head (an anchor for Verify kept
	// outside the database) when the log starts, every HeadInterval while
	// records are written, after CheckpointEvery records, and on Close.
	Heads HeadWriter
	// HeadInterval is how often the head is written while the chain
	// moves. Records appended after the last head are protected by the
	// chain alone (a removed tail with the head row rewound goes unseen),
	// so this bounds that window. If zero, one minute.
	HeadInterval time.Duration
	// CheckpointEvery writes the head after this many records, or without
	// Heads logs it (sequence number and hash, unsigned). If zero, 10000;
	// the head is also logged on Close.
	CheckpointEvery int64
	// Logger receives operational logs, never record contents. If nil,
	// nothing is logged.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// HeadWriter keeps chain heads outside the database: a *HeadsWriter.
type HeadWriter interface {
	// WriteHead records h durably.
	WriteHead(h Head) error
}

var _ HeadWriter = (*HeadsWriter)(nil)

// Stats are the log's counters since New.
type Stats struct {
	// Written is the records durably written.
	Written int64
	// Repeated counts records left out because the log already held
	// their AnswerKey: an answer recorded by the replica that received
	// the call, and again by one that resumed the call's stream.
	Repeated int64
	// WriteErrors counts failed writes (each retried).
	WriteErrors int64
	// Refused counts calls refused because they could not be recorded.
	Refused int64
	// Unrecorded counts calls let through unrecorded (AllowUnrecorded).
	Unrecorded int64
	// Pending is the records admitted and not yet written.
	Pending int64
	// HeadErrors counts chain heads that could not be written.
	HeadErrors int64
	// Batches counts the transactions written (Written+Repeated records
	// in all).
	Batches int64
}

// Log is the audit log middleware and its writer. It is safe for
// concurrent use.
type Log struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	slots   chan struct{} // one per admitted, unwritten record
	records chan entry
	stop    chan struct{} // closed by Close: no more records will come
	abort   chan struct{} // closed by Close when its deadline passed: give up
	done    chan struct{} // closed when the writer has exited

	mu     sync.Mutex // orders admissions before Close
	closed bool

	healthy     atomic.Bool
	written     atomic.Int64
	handled     atomic.Int64 // records written or left out as repeated
	repeated    atomic.Int64
	writeErrors atomic.Int64
	refused     atomic.Int64
	unrecorded  atomic.Int64
	admitted    atomic.Int64
	headErrors  atomic.Int64
	batches     atomic.Int64

	flushMu sync.Mutex
	flushed *sync.Cond

	scratch []byte // the writer's, for canonical arguments
}

// New starts a Log; Close stops it.
func New(opts Options) (*Log, error) {
	if opts.Sink == nil {
		return nil, errors.New("audit: Sink is required")
	}
	if (opts.RecordArguments || opts.RecordResults) && opts.Mask == nil {
		return nil, errors.New("audit: recording arguments or results requires Mask (they are never stored in clear)")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.BatchDelay == 0 && opts.ReplyBeforeWrite {
		opts.BatchDelay = 2 * time.Millisecond
	}
	if opts.ShareWait == 0 {
		opts.ShareWait = time.Millisecond
	}
	if opts.WriteWait <= 0 {
		opts.WriteWait = 10 * time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 512
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = 2 * time.Second
	}
	if opts.MaxRecorded <= 0 {
		opts.MaxRecorded = 16 << 10
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 10000
	}
	if opts.HeadInterval <= 0 {
		opts.HeadInterval = time.Minute
	}
	l := &Log{opts: opts, log: opts.Logger, now: opts.Now,
		slots: make(chan struct{}, opts.QueueSize), records: make(chan entry, opts.QueueSize),
		stop: make(chan struct{}), abort: make(chan struct{}), done: make(chan struct{})}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if opts.AllowUnrecorded {
		l.log.Warn("audit: AllowUnrecorded is set: calls the log cannot record are let through")
	}
	l.flushed = sync.NewCond(&l.flushMu)
	l.healthy.Store(true)
	if opts.Heads != nil {
		// Anchor what is already there: records written before a restart
		// (or before the chain was keyed) are covered from now on.
		if hs, ok := opts.Sink.(interface {
			Head(context.Context) (Head, error)
		}); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			h, err := hs.Head(ctx)
			cancel()
			if err == nil {
				l.writeHead(h)
			} else {
				l.log.Error("audit: cannot read the chain head", "err", err)
			}
		}
	}
	go l.writer()
	return l, nil
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	return Stats{Written: l.written.Load(), Repeated: l.repeated.Load(), WriteErrors: l.writeErrors.Load(), Refused: l.refused.Load(),
		Unrecorded: l.unrecorded.Load(), Pending: int64(len(l.slots)), HeadErrors: l.headErrors.Load(), Batches: l.batches.Load()}
}

// errUnavailable refuses a call the log cannot record.
var errUnavailable = &gateway.Error{
	Status: http.StatusServiceUnavailable,
	Header: http.Header{"Retry-After": {"1"}},
	RPC:    &jsonrpc.Error{Code: jsonrpc.CodeOverloaded, Message: "Service unavailable: the audit log cannot record this call"},
}

// admit reserves a queue slot for one record. When the queue is full it
// waits up to QueueWait (a burst the writer will absorb), unless the log
// lets calls through unrecorded, which never delays them.
func (l *Log) admit(ctx context.Context) bool {
	l.mu.Lock()
	if l.closed || (!l.healthy.Load() && !l.opts.AllowUnrecorded) {
		l.mu.Unlock()
		return false
	}
	select {
	case l.slots <- struct{}{}:
		l.admitted.Add(1)
		l.mu.Unlock()
		return true
	default:
	}
	l.mu.Unlock()
	if l.opts.AllowUnrecorded {
		return false
	}
	t := time.NewTimer(l.opts.QueueWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		<-l.slots // Close has counted what it waits for: give the room back
		return false
	}
	l.admitted.Add(1)
	return true
}

// Add records a decision taken outside the MCP plane (an HTTP-edge
// refusal, say). It fails when the record cannot be queued.
func (l *Log) Add(r Record) error {
	if !l.admit(context.Background()) {
		return errors.New("audit: log is closed, failing or full")
	}
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	l.records <- entry{rec: &r}
	return nil
}

var _ gateway.Middleware = (*Log)(nil).Wrap

// Wrap is the Log as gateway.Middleware. Place it outermost, so that it
// sees every refusal of the policies inside it.
func (l *Log) Wrap(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Stream && c.Session != nil {
			reply, err := next(ctx, c)
			if err != nil {
				return nil, err
			}
			return &resumed{Reply: reply, l: l, call: c}, nil
		}
		if c.Msg.Kind != jsonrpc.KindRequest && (c.Msg.Kind != jsonrpc.KindResponse || c.Stream) {
			return next(ctx, c)
		}
		start := l.now()
		if !l.admit(ctx) {
			if !l.opts.AllowUnrecorded {
				l.refused.Add(1)
				return nil, errUnavailable
			}
			if l.unrecorded.Add(1)%1000 == 1 {
				l.log.Error("audit: calls pass unrecorded", "unrecorded", l.unrecorded.Load())
			}
			return next(ctx, c)
		}
		ctx, notes := auditnote.With(ctx)
		e := l.begin(ctx, c, start)
		if n := inputAnswers(c); n > 0 {
			notes.Add("input", "answers "+strconv.Itoa(n)+" input requests")
		}
		reply, err := next(ctx, c)
		if err != nil {
			l.refusal(e.rec, err)
			l.finish(e, notes, start)
			return nil, err
		}
		if c.Msg.Kind == jsonrpc.KindResponse {
			// Passed on: nothing comes back for a response.
			if e.rec.Status == "" {
				e.rec.Status = StatusAccepted
			}
			l.finish(e, notes, start)
			return reply, nil
		}
		return &recording{Reply: reply, l: l, e: e, notes: notes, start: start, id: c.Msg.ID, method: c.Msg.Method, call: c}, nil
	}
}

// entry is a record on its way to the writer, with the call's arguments,
// which the writer hashes (and, if configured, masks) off the request
// path.
type entry struct {
	rec  *Record
	args []byte
	// written, if set, is closed once the record is durably written.
	written chan struct{}
}

// begin fills what is known when the call arrives.
func (l *Log) begin(ctx context.Context, c *gateway.Call, start time.Time) entry {
	r := &Record{Time: start, RPCID: c.Msg.ID.Raw(), Server: c.Route, Method: c.Msg.Method, Decision: Allow}
	e := entry{rec: r}
	if !l.opts.ReplyBeforeWrite {
		e.written = make(chan struct{})
	}
	if l.opts.RequestID != nil {
		r.RequestID = l.opts.RequestID(ctx)
	}
	if l.opts.TraceID != nil {
		r.TraceID = l.opts.TraceID(ctx)
	}
	if p := c.Principal; p != nil {
		r.Issuer, r.Subject, r.Client = p.Issuer, p.Subject, p.ClientID
	}
	if c.Msg.Kind == jsonrpc.KindResponse {
		// A legacy client's answer to a server-to-client request
		// (elicitation, sampling, roots): no method; what it carries is
		// hashed (and kept, masked) as arguments are.
		r.Reason = "input: the client's answer to a server request"
		if c.Msg.Result != nil {
			e.args = append([]byte(nil), c.Msg.Result...)
		} else {
			r.Status = StatusError
			if er, err := jsonrpc.DecodeError(c.Msg.Error); err == nil {
				r.ErrorCode = er.Code
			}
		}
		return e
	}
	switch c.Msg.Method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet:
		r.Tool = c.Params.Name
		if args := c.Params.Arguments; args != nil {
			e.args = append([]byte(nil), args...)
		}
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		r.Tool = c.Params.URI
	}
	return e
}

// argsHash is the SHA-256 of the RFC 8785 form of the arguments, so that
// the same arguments hash alike however a client spelled them. scratch is
// reused for the canonical form.
func argsHash(args []byte, scratch *[]byte) string {
	prefix := prefixSHA
	c, err := jcs.Append((*scratch)[:0], args)
	if err != nil {
		c, prefix = args, "sha256-raw:"
	} else if cap(c) <= 64<<10 {
		*scratch = c
	}
	sum := sha256.Sum256(c)
	var out [len("sha256-raw:") + 2*sha256.Size]byte
	return string(hex.AppendEncode(append(out[:0], prefix...), sum[:]))
}

func (l *Log) bounded(b []byte) string {
	if len(b) > l.opts.MaxRecorded {
		return fmt.Sprintf(`{"omitted":"%d bytes, more than the audit log keeps"}`, len(b))
	}
	return string(b)
}

// refusal records an error from the policies or the upstream.
func (l *Log) refusal(r *Record, err error) {
	var ge *gateway.Error
	var re *jsonrpc.Error
	switch {
	case errors.As(err, &ge):
		r.Status, r.Decision = StatusRefused, Deny
		if ge.RPC != nil {
			r.ErrorCode, r.Reason = ge.RPC.Code, ge.RPC.Message
		}
	case errors.As(err, &re):
		r.ErrorCode, r.Reason = re.Code, re.Message
		switch re.Code {
		case jsonrpc.CodeForbidden, jsonrpc.CodeRateLimited:
			r.Status, r.Decision = StatusRefused, Deny
		case jsonrpc.CodeUpstreamUnavailable, jsonrpc.CodeUpstreamTimeout, jsonrpc.CodeOverloaded:
			r.Status = StatusFailed
		default:
			r.Status, r.Decision = StatusRefused, Deny
		}
	case errors.Is(err, context.Canceled):
		r.Status = StatusCancelled
	default:
		r.Status, r.Reason = StatusFailed, "upstream failure"
	}
}

// finish completes a record and queues it. Its slot was reserved by admit.
func (l *Log) finish(e entry, notes *auditnote.Notes, start time.Time) {
	r := e.rec
	r.LatencyMicros = l.now().Sub(start).Microseconds()
	if n := notes.String(); n != "" {
		if r.Reason != "" {
			r.Reason += "; "
		}
		r.Reason += n
	}
	l.records <- e
}

// recording watches a reply for the call's response.
type recording struct {
	upstream.Reply
	l      *Log
	e      entry
	notes  *auditnote.Notes
	start  time.Time
	id     jsonrpc.ID
	method string
	once   sync.Once
	call   *gateway.Call

	// The gateway closes a reply from another goroutine when it ends a
	// stream at shutdown (Drain), possibly while Next is returning the
	// response, or between two reads, after which the relay reads once
	// more (the reply may still hold the response) and closes the reply
	// again. The record follows what the client gets: a Close during a
	// Next leaves it to that Next; the first Close at shutdown between
	// reads leaves it to the relay's next read or Close (or, failing
	// both, to a timer).
	mu       sync.Mutex
	inNext   bool
	closed   bool
	finished bool // the record is queued
}

// drainWait bounds how long a reply closed at shutdown between two reads
// waits for the relay's next read or Close before its record is queued.
const drainWait = 2 * time.Second

// ended is the status of a reply that ends before its response:
// incomplete when its gateway is shutting down (Drain ended the stream;
// the call goes on upstream, and a legacy client resumes the stream
// elsewhere), cancelled when the client went away.
func (w *recording) ended() string {
	if w.call.Draining() {
		return StatusIncomplete
	}
	return StatusCancelled
}

func (w *recording) done(status string) {
	w.once.Do(func() {
		w.mu.Lock()
		w.finished = true
		w.mu.Unlock()
		if w.e.rec.Status == "" {
			w.e.rec.Status = status
		}
		w.l.finish(w.e, w.notes, w.start)
	})
}

// errClosed ends the reads of a reply already closed.
var errClosed = errors.New("audit: reply closed")

// Next implements upstream.Reply. Once closed and recorded it returns
// nothing more, so that nothing reaches the client after its record.
func (w *recording) Next(ctx context.Context) (*upstream.Event, error) {
	w.mu.Lock()
	if w.closed && w.finished {
		w.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errClosed
	}
	w.inNext = true
	w.mu.Unlock()
	ev, err := w.Reply.Next(ctx)
	w.mu.Lock()
	w.inNext = false
	closed := w.closed
	w.mu.Unlock()
	if closed {
		// Closed while reading: record what this Next delivers (the
		// response goes to the client), or else the end of the stream.
		defer w.done(w.ended())
	}
	switch {
	case errors.Is(err, io.EOF):
		if w.Reply.Info().Status == http.StatusAccepted {
			w.done(StatusAccepted)
		} else {
			w.done(StatusIncomplete)
		}
	case errors.Is(err, context.Canceled):
		w.done(w.ended())
	case err != nil:
		w.e.rec.Reason = "upstream failure"
		w.done(StatusFailed)
	case len(ev.Data) > 0:
		if w.inspect(ev) {
			w.l.awaitWrite(ctx, w.e)
		}
	}
	return ev, err
}

// awaitWrite holds a response until its record is written (unless
// ReplyBeforeWrite), at most WriteWait, or until the client is gone or the
// log closed.
func (l *Log) awaitWrite(ctx context.Context, e entry) {
	if e.written == nil {
		return
	}
	t := time.NewTimer(l.opts.WriteWait)
	defer t.Stop()
	select {
	case <-e.written:
	case <-ctx.Done():
	case <-l.done:
	case <-t.C:
		l.log.Warn("audit: a response goes out before its record is written", "wait", l.opts.WriteWait)
	}
}

// inspect reads the status of the response to the call, when data is it,
// and reports whether it was; it notes the server's requests for client
// input relayed on the call's stream.
func (w *recording) inspect(ev *upstream.Event) bool {
	m, err := ev.Message()
	if err == nil && m.Kind == jsonrpc.KindRequest {
		w.notes.Add("input", "asked the client for "+inputMethod(m.Method))
		return false
	}
	if err != nil || m.Kind != jsonrpc.KindResponse || m.ID != w.id {
		return false
	}
	r := w.e.rec
	r.AnswerKey = answerKey(w.call, m.ID, ev.ID)
	w.l.outcome(r, m, w.method, w.notes)
	w.done(r.Status)
	return true
}

// answerKey identifies the answer to a legacy session's call carried by
// an event with an id: the same for the replica that received the call
// and for one that resumed its stream, whichever relays it. The JSON-RPC
// id alone would not do (a client may reuse one, and must not thereby
// keep a call out of the log), nor the upstream's event id alone.
func answerKey(c *gateway.Call, id jsonrpc.ID, eventID string) string {
	if c.Session == nil || eventID == "" {
		return ""
	}
	h := sha256.New()
	var n [8]byte
	for _, f := range []string{c.Route, string(c.Session.ID[:]), id.Raw(), eventID} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// outcome sets a record's status (and result) from the call's response.
func (l *Log) outcome(r *Record, m *jsonrpc.Message, method string, notes *auditnote.Notes) {
	switch {
	case m.Error != nil:
		r.Status = StatusError
		if e, err := jsonrpc.DecodeError(m.Error); err == nil {
			r.ErrorCode = e.Code
		}
		if l.opts.RecordResults {
			r.Result = l.bounded(l.opts.Mask(m.Error))
		}
	default:
		r.Status = StatusOK
		if rt, ok := jsonx.Get(m.Result, "resultType"); ok {
			if s, _ := jsonx.String(rt); s == "input_required" {
				r.Status = StatusInputRequired
				reqs, _ := jsonx.Get(m.Result, "inputRequests")
				_ = jsonx.WalkObject(reqs, func(_ string, v []byte) bool {
					method, _ := jsonx.Get(v, "method")
					s, _ := jsonx.String(method)
					if notes != nil {
						notes.Add("input", "asked the client for "+inputMethod(s))
					}
					return true
				})
			}
		}
		if method == mcp.MethodToolsCall || method == "" { // "": unknown, on a resumed stream
			if v, ok := jsonx.Get(m.Result, "isError"); ok && string(v) == "true" {
				r.Status = StatusToolError
			}
		}
		if l.opts.RecordResults {
			r.Result = l.bounded(l.opts.Mask(m.Result))
		}
	}
}

// resumed watches a legacy session's GET stream for answers to calls:
// on resumption (Last-Event-ID) it carries the rest of an earlier POST's
// stream, which another replica may have received and then stopped or
// died before it relayed (and recorded) the answer. Each answer is
// recorded here before the client gets it, with the key the receiving
// replica gave its own record, so that the log holds it once whichever
// replica recorded it first.
type resumed struct {
	upstream.Reply
	l    *Log
	call *gateway.Call
}

// Next implements upstream.Reply.
func (w *resumed) Next(ctx context.Context) (*upstream.Event, error) {
	ev, err := w.Reply.Next(ctx)
	if err != nil || len(ev.Data) == 0 || ev.ID == "" {
		return ev, err
	}
	m, merr := ev.Message()
	if merr != nil || m.Kind != jsonrpc.KindResponse {
		return ev, nil
	}
	l := w.l
	if !l.admit(ctx) {
		if !l.opts.AllowUnrecorded {
			// Not relayed unrecorded: the stream ends, and the client
			// resumes it again from its last event.
			l.refused.Add(1)
			return nil, errUnavailable
		}
		l.unrecorded.Add(1)
		return ev, nil
	}
	now := l.now()
	r := &Record{Time: now, RPCID: m.ID.Raw(), Server: w.call.Route, Decision: Allow, AnswerKey: answerKey(w.call, m.ID, ev.ID),
		Reason: "answer relayed on a resumed stream; the replica that received the call did not record it"}
	if l.opts.RequestID != nil {
		r.RequestID = l.opts.RequestID(ctx)
	}
	if l.opts.TraceID != nil {
		r.TraceID = l.opts.TraceID(ctx)
	}
	if p := w.call.Principal; p != nil {
		r.Issuer, r.Subject, r.Client = p.Issuer, p.Subject, p.ClientID
	}
	l.outcome(r, m, "", nil)
	e := entry{rec: r}
	if !l.opts.ReplyBeforeWrite {
		e.written = make(chan struct{})
	}
	l.records <- e
	l.awaitWrite(ctx, e)
	return ev, nil
}

// Close implements upstream.Reply. A reply closed before its response
// is recorded as cancelled (the client went away), or as incomplete when
// the gateway ended its stream at shutdown.
func (w *recording) Close() error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	reading := w.inNext
	wait := !reading && first && w.call.Draining()
	// Decided under the lock, so that no Next starts in between.
	finish := !reading && !wait
	if finish {
		w.finished = true
	}
	w.mu.Unlock()
	switch {
	case wait:
		// Drain, between two reads: the relay reads once more or closes.
		time.AfterFunc(drainWait, w.endUnread)
	case finish:
		w.done(w.ended())
	}
	// reading: the Next under way records what it returns.
	return w.Reply.Close()
}

// endUnread records the end of a reply closed at shutdown that was not
// read since.
func (w *recording) endUnread() {
	w.mu.Lock()
	if w.inNext {
		w.mu.Unlock()
		return
	}
	w.finished = true
	w.mu.Unlock()
	w.done(w.ended())
}

// writer appends queued records in batches: whatever accumulated while the
// previous batch was written goes in the next transaction.
func (l *Log) writer() {
	defer close(l.done)
	batch := make([]Record, 0, l.opts.BatchSize)
	var waiters []chan struct{} // of the records in batch that have one
	var sinceCheckpoint int64
	var last Record
	// The writer waits (ShareWait) for as many records as the last
	// transaction answered calls (expect), or as calls were admitted
	// since the last batch was closed (their number was mark then), if
	// more: calls under way for longer, such as a long stream, are not
	// waited for again.
	expect := 0
	var mark int64
	want := func() int { return max(expect, int(l.admitted.Load()-mark)) }
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	var tick <-chan time.Time
	if l.opts.Heads != nil {
		t := time.NewTicker(l.opts.HeadInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case e := <-l.records:
			batch, waiters = append(batch, l.complete(e)), appendWaiter(waiters, e)
		case <-tick:
			l.writeHead(Head{Seq: last.Seq, Hash: last.Hash})
			continue
		case <-l.stop:
			if last.Seq > 0 {
				l.checkpoint(last)
			}
			return
		}
		// gathering: the timer runs (BatchDelay, or ShareWait once a
		// record of a call under way is waited for).
		gathering := l.opts.BatchDelay > 0
		if gathering {
			gather.Reset(l.opts.BatchDelay)
		}
	fill:
		for len(batch) < cap(batch) {
			if !gathering {
				select {
				case e := <-l.records:
					batch, waiters = append(batch, l.complete(e)), appendWaiter(waiters, e)
					continue
				default:
				}
				// Nothing more is queued. Wait a little for the records
				// that are coming, rather than have each pay for a
				// transaction of its own: those of the calls admitted
				// since the last batch, and as many as the last
				// transaction answered (their clients, busy, call again).
				if l.opts.BatchDelay < 0 || l.opts.ShareWait < 0 || len(waiters) == 0 || len(batch) >= want() {
					break fill
				}
				gathering = true
				gather.Reset(l.opts.ShareWait)
			}
			select {
			case e := <-l.records:
				batch, waiters = append(batch, l.complete(e)), appendWaiter(waiters, e)
				if l.opts.BatchDelay <= 0 && len(batch) >= want() && len(l.records) == 0 {
					break fill // what was coming is in
				}
			case <-gather.C:
				gathering = false
				break fill
			case <-l.stop:
				break fill
			}
		}
		if gathering {
			gather.Stop()
		}
		mark = l.admitted.Load()
		if !l.write(batch) {
			return // aborted by Close; it reports the loss
		}
		n := 0
		for i := range batch {
			if batch[i].Seq > 0 {
				last = batch[i]
				n++
			}
		}
		l.written.Add(int64(n))
		l.repeated.Add(int64(len(batch) - n))
		l.handled.Add(int64(len(batch)))
		l.batches.Add(1)
		sinceCheckpoint += int64(n)
		if sinceCheckpoint >= l.opts.CheckpointEvery {
			l.checkpoint(last)
			sinceCheckpoint = 0
		}
		for range batch {
			<-l.slots
		}
		for _, w := range waiters {
			close(w)
		}
		expect = len(waiters)
		waiters = waiters[:0]
		l.flushMu.Lock()
		l.flushed.Broadcast()
		l.flushMu.Unlock()
		batch = batch[:0]
	}
}

func appendWaiter(ws []chan struct{}, e entry) []chan struct{} {
	if e.written != nil {
		ws = append(ws, e.written)
	}
	return ws
}

// checkpoint writes the head at last: signed, through Heads, or else
// to the operational log.
func (l *Log) checkpoint(last Record) {
	if l.opts.Heads != nil {
		l.writeHead(Head{Seq: last.Seq, Hash: last.Hash})
		return
	}
	l.log.Info("audit: checkpoint", "seq", last.Seq, "hash", last.Hash)
}

// writeHead hands a head to Heads. A failure is logged and counted: the
// records themselves are written, and the next head covers them.
func (l *Log) writeHead(h Head) {
	if h.Seq <= 0 {
		return
	}
	if err := l.opts.Heads.WriteHead(h); err != nil {
		l.headErrors.Add(1)
		l.log.Error("audit: cannot write the chain head", "seq", h.Seq, "err", err)
	}
}

// complete hashes (and, if configured, masks) an entry's arguments.
func (l *Log) complete(e entry) Record {
	r := *e.rec
	if e.args != nil {
		r.ArgsHash = argsHash(e.args, &l.scratch)
		if l.opts.RecordArguments {
			r.Arguments = l.bounded(l.opts.Mask(e.args))
		}
	}
	return r
}

// write appends one batch, retrying until it is written (records are
// never dropped) or Close gives up. While it fails, the log is unhealthy
// and (unless AllowUnrecorded) admits no new call.
func (l *Log) write(batch []Record) bool {
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		work := append([]Record(nil), batch...)
		err := l.opts.Sink.Append(ctx, work)
		cancel()
		if err == nil {
			copy(batch, work)
			if !l.healthy.Swap(true) {
				l.log.Info("audit: writes recovered", "records", len(batch), "attempts", attempt+1)
			}
			return true
		}
		l.writeErrors.Add(1)
		if l.healthy.Swap(false) || attempt%20 == 0 {
			l.log.Error("audit: write failed; retrying", "records", len(batch), "attempt", attempt+1, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-l.abort:
			t.Stop()
			return false
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// Flush waits until every record admitted before the call is written, or
// ctx ends.
func (l *Log) Flush(ctx context.Context) error {
	target := l.admitted.Load()
	done := func() bool { return l.handled.Load() >= target }
	stop := context.AfterFunc(ctx, func() {
		l.flushMu.Lock()
		l.flushed.Broadcast()
		l.flushMu.Unlock()
	})
	defer stop()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for !done() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("audit: flush: %d records not yet written: %w", target-l.handled.Load(), err)
		}
		l.flushed.Wait()
	}
	return nil
}

// Close stops admitting calls, waits for the calls in flight to finish and
// their records to be written, and stops the writer. If ctx ends first, it
// reports how many records were not written.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	// Nothing is admitted any more: once what was admitted is written
	// (calls in flight finish and their records are queued), the writer
	// can stop.
	var err error
	if ferr := l.Flush(ctx); ferr != nil {
		n := len(l.slots)
		err = fmt.Errorf("audit: close: %d records not written: %w", n, ctx.Err())
		l.log.Error("audit: records not written at shutdown", "records", n)
		close(l.abort)
	}
	close(l.stop)
	<-l.done
	return err
}

// inputMethod names a server's request for client input in a note: one of
// the methods the protocol defines, never text of the server's choosing.
func inputMethod(method string) string {
	switch method {
	case mcp.MethodElicitationCreate, mcp.MethodSamplingCreateMessage, mcp.MethodRootsList, mcp.MethodPing:
		return method
	}
	return "another request"
}

// inputAnswers counts the answers a 2026-07-28 retry carries
// (basic/patterns/mrtr "inputResponses").
func inputAnswers(c *gateway.Call) int {
	if c.Msg.Kind != jsonrpc.KindRequest {
		return 0
	}
	v, ok := jsonx.Get(c.Msg.Params, "inputResponses")
	if !ok {
		return 0
	}
	n := 0
	_ = jsonx.WalkObject(v, func(string, []byte) bool { n++; return true })
	return n
}
