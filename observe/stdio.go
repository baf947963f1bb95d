package observe

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// Names of the stdio pool's timing: its histograms (seconds) and the
// attribute that tells a route's pools apart.
const (
	MetricStdioQueueWait     = "mcpfort.stdio.queue.wait.duration"
	MetricStdioStartDuration = "mcpfort.stdio.start.duration"
	AttrPool                 = "mcpfort.pool" // sessions or stateless
)

// Span names of the stdio pool's timing (children of the CLIENT span of
// the call that waited or had a process started for it).
const (
	SpanStdioQueueWait    = "stdio queue wait"
	SpanStdioProcessStart = "stdio process start"
)

// Histogram boundaries, in seconds: a queue wait is often a few
// milliseconds, a process start (an interpreter loading) up to seconds.
var (
	stdioWaitBuckets  = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	stdioStartBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// StdioObserver records a stdio pool's queue waits and process starts: the
// spans "stdio queue wait" and "stdio process start" under the span of the
// caller's context (none when that context has no span: a start made
// ahead of demand), and the mcpfort.stdio.queue.wait.duration and
// mcpfort.stdio.start.duration histograms. It has the method set of the
// stdio pool's Observer.
type StdioObserver struct {
	t     *Telemetry
	attrs []attribute.KeyValue // route, pool
	ok    []metric.RecordOption
}

// Stdio returns the observer of one stdio pool of route (kind tells a
// route's pools apart: "sessions", "stateless"), or nil when neither
// traces nor metrics are on, so that the pool takes no timestamps for
// nothing.
func (t *Telemetry) Stdio(route, kind string) *StdioObserver {
	if !t.tracing && !t.metering {
		return nil
	}
	a := []attribute.KeyValue{attribute.String(AttrRoute, route), attribute.String(AttrPool, kind)}
	ok := metric.WithAttributeSet(attribute.NewSet(append(a, attribute.String(AttrResult, "ok"))...))
	return &StdioObserver{t: t, attrs: a, ok: []metric.RecordOption{ok}}
}

// QueueWait records one caller's wait in the queue, from start until now.
func (o *StdioObserver) QueueWait(ctx context.Context, start time.Time, err error) {
	o.record(ctx, o.t.inst.stdioWait, SpanStdioQueueWait, start, err)
}

// ProcessStart records one process start, from start until now.
func (o *StdioObserver) ProcessStart(ctx context.Context, start time.Time, err error) {
	o.record(ctx, o.t.inst.stdioStart, SpanStdioProcessStart, start, err)
}

func (o *StdioObserver) record(ctx context.Context, h metric.Float64Histogram, name string, start time.Time, err error) {
	end := time.Now()
	var result string
	if err != nil {
		result = stdioResult(err)
	}
	if o.t.tracing && trace.SpanContextFromContext(ctx).IsValid() {
		_, span := o.t.tracer.Start(ctx, name, trace.WithTimestamp(start))
		if span.IsRecording() {
			span.SetAttributes(o.attrs...)
			if err != nil {
				span.SetAttributes(attribute.String(AttrErrorType, result))
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.End(trace.WithTimestamp(end))
	}
	d := end.Sub(start).Seconds()
	if err == nil {
		h.Record(ctx, d, o.ok...)
		return
	}
	h.Record(ctx, d, metric.WithAttributes(append(o.attrs[:len(o.attrs):len(o.attrs)], attribute.String(AttrResult, result))...))
}

// stdioResult is a failure's low-cardinality class: the JSON-RPC code the
// pool answered with (overloaded, unavailable), "cancelled" when the
// caller went away, else "error".
func stdioResult(err error) string {
	var re *jsonrpc.Error
	switch {
	case errors.As(err, &re):
		return strconv.FormatInt(re.Code, 10)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "error"
}
