package observe

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// lightSpan is an INTERNAL child span whose parent, name, times and
// attributes are known without the SDK's span machinery: a policy's span
// and the token validation's. It goes to the same span processor (and so
// the same batches and exporter) as the spans the SDK records, but costs
// one allocation, where an SDK span costs a recording span, a context, an
// attribute copy and its de-duplication map, and a snapshot. It is
// recorded only under a recording parent (the parent's sampling decision
// is its own: nothing can start under it), so no sampler is asked.
//
// The embedded ReadOnlySpan is never set: it only supplies the interface's
// unexported method. Every exported method is defined below
// (TestLightSpanMethods calls them all, so a method added to the interface
// fails that test rather than an export).
type lightSpan struct {
	sdktrace.ReadOnlySpan
	t          *Telemetry
	name       string
	sc, parent trace.SpanContext
	start, end time.Time
	attrs      []attribute.KeyValue
	status     sdktrace.Status
}

// newLightSpan starts a child of parent (a recording span's context).
func (t *Telemetry) newLightSpan(parent trace.SpanContext, name string, start time.Time, attrs []attribute.KeyValue) *lightSpan {
	return &lightSpan{t: t, name: name, parent: parent, start: start, attrs: attrs,
		sc: parent.WithSpanID(newSpanID()).WithRemote(false)}
}

// newSpanID returns a random, valid span id from the runtime's
// generator (no lock, no system call).
func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.LittleEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// finish ends the span at end and hands it to the span processor.
func (s *lightSpan) finish(end time.Time) {
	s.end = end
	s.t.proc.OnEnd(s)
}

func (s *lightSpan) Name() string                     { return s.name }
func (s *lightSpan) SpanContext() trace.SpanContext   { return s.sc }
func (s *lightSpan) Parent() trace.SpanContext        { return s.parent }
func (s *lightSpan) SpanKind() trace.SpanKind         { return trace.SpanKindInternal }
func (s *lightSpan) StartTime() time.Time             { return s.start }
func (s *lightSpan) EndTime() time.Time               { return s.end }
func (s *lightSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s *lightSpan) Links() []sdktrace.Link           { return nil }
func (s *lightSpan) Events() []sdktrace.Event         { return nil }
func (s *lightSpan) Status() sdktrace.Status          { return s.status }
func (s *lightSpan) Resource() *resource.Resource     { return s.t.res }
func (s *lightSpan) DroppedAttributes() int           { return 0 }
func (s *lightSpan) DroppedLinks() int                { return 0 }
func (s *lightSpan) DroppedEvents() int               { return 0 }
func (s *lightSpan) ChildSpanCount() int              { return 0 }
func (s *lightSpan) InstrumentationScope() instrumentation.Scope {
	return instrumentation.Scope{Name: tracerName}
}

// InstrumentationLibrary is the deprecated name of InstrumentationScope
// (instrumentation.Library is an alias of Scope).
func (s *lightSpan) InstrumentationLibrary() instrumentation.Scope {
	return instrumentation.Scope{Name: tracerName}
}
