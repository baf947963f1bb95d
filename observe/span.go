package observe

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// maxSpanEvents bounds the events of a recSpan, as the SDK's default
// span limits do.
const maxSpanEvents = 128

// startSpan starts the SERVER or CLIENT span of an operation. With the
// sampler New configured (a ratio, or the default), the sampler is asked
// here and a sampled span is a recSpan; with a sampler from the
// environment, the SDK's tracer starts it. Its attributes are set with
// setAttrs, once the caller knows it records.
func (t *Telemetry) startSpan(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if t.sampler == nil {
		return t.tracer.Start(ctx, name, trace.WithSpanKind(kind))
	}
	psc := trace.SpanContextFromContext(ctx)
	tid := psc.TraceID()
	for !tid.IsValid() {
		binary.LittleEndian.PutUint64(tid[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(tid[8:], rand.Uint64())
	}
	sr := t.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: ctx, TraceID: tid, Name: name, Kind: kind})
	cfg := trace.SpanContextConfig{TraceID: tid, SpanID: newSpanID(), TraceState: sr.Tracestate, TraceFlags: psc.TraceFlags() &^ trace.FlagsSampled}
	if sr.Decision != sdktrace.RecordAndSample {
		// Not recorded (nor is a record-only decision: such a span is
		// never exported, and nothing else reads it).
		ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg))
		return ctx, trace.SpanFromContext(ctx)
	}
	cfg.TraceFlags |= trace.FlagsSampled
	s := &recSpan{t: t, name: name, kind: kind, sc: trace.NewSpanContext(cfg), parent: psc, start: time.Now()}
	return trace.ContextWithSpan(ctx, s), s
}

// setAttrs sets the attributes of a recording span just started: a
// recSpan keeps attrs itself (the caller built it for the span and lets
// go of it).
func setAttrs(span trace.Span, attrs []attribute.KeyValue) {
	if s, ok := span.(*recSpan); ok {
		s.mu.Lock()
		if len(s.attrs) == 0 {
			s.attrs = attrs
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
	span.SetAttributes(attrs...)
}

// recSpan is a sampled SERVER or CLIENT span of the gateway's, recorded
// without the SDK's span machinery: its attributes are the slice the
// caller built (no copy; a key set again replaces its value, so no
// de-duplication map), and once ended it is its own read-only snapshot,
// handed to the span processor as it is. It is also the span in the
// operation's context, the parent of the spans below it (the SDK's
// included).
//
// The embedded ReadOnlySpan is never set: it supplies only the interface's
// unexported method (TestRecSpanMethods calls every exported one).
type recSpan struct {
	embedded.Span
	sdktrace.ReadOnlySpan
	t          *Telemetry
	mu         sync.Mutex
	ended      bool
	name       string
	kind       trace.SpanKind
	sc, parent trace.SpanContext
	start, end time.Time
	attrs      []attribute.KeyValue
	events     []sdktrace.Event
	links      []sdktrace.Link
	status     sdktrace.Status
	dropped    int // events over maxSpanEvents
}

// End implements trace.Span.
func (s *recSpan) End(options ...trace.SpanEndOption) {
	end := time.Now()
	if len(options) > 0 {
		if c := trace.NewSpanEndConfig(options...); !c.Timestamp().IsZero() {
			ts := c.Timestamp()
			end = ts
		}
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.end = true, end
	s.mu.Unlock()
	s.t.proc.OnEnd(s)
}

// AddEvent implements trace.Span.
func (s *recSpan) AddEvent(name string, options ...trace.EventOption) {
	c := trace.NewEventConfig(options...)
	s.addEvent(sdktrace.Event{Name: name, Attributes: c.Attributes(), Time: c.Timestamp()})
}

func (s *recSpan) addEvent(ev sdktrace.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if len(s.events) >= maxSpanEvents {
		s.dropped++
		return
	}
	s.events = append(s.events, ev)
}

// AddLink implements trace.Span.
func (s *recSpan) AddLink(l trace.Link) {
	if !l.SpanContext.IsValid() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.links = append(s.links, sdktrace.Link{SpanContext: l.SpanContext, Attributes: l.Attributes})
	}
}

// IsRecording implements trace.Span.
func (s *recSpan) IsRecording() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ended
}

// RecordError implements trace.Span: an "exception" event, as the SDK's.
func (s *recSpan) RecordError(err error, options ...trace.EventOption) {
	if err == nil {
		return
	}
	c := trace.NewEventConfig(options...)
	attrs := append([]attribute.KeyValue{attribute.String("exception.type", fmt.Sprintf("%T", err)),
		attribute.String("exception.message", err.Error())}, c.Attributes()...)
	s.addEvent(sdktrace.Event{Name: "exception", Attributes: attrs, Time: c.Timestamp()})
}

// SetStatus implements trace.Span with the SDK's rules: Ok is final, a
// description is kept only for Error.
func (s *recSpan) SetStatus(code codes.Code, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || code < s.status.Code {
		return
	}
	if code != codes.Error {
		description = ""
	}
	s.status = sdktrace.Status{Code: code, Description: description}
}

// SetName implements trace.Span.
func (s *recSpan) SetName(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.name = name
	}
}

// SetAttributes implements trace.Span: a key set again replaces its value.
func (s *recSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
next:
	for _, a := range kv {
		if !a.Valid() {
			continue
		}
		for i := range s.attrs {
			if s.attrs[i].Key == a.Key {
				s.attrs[i] = a
				continue next
			}
		}
		s.attrs = append(s.attrs, a)
	}
}

// TracerProvider implements trace.Span.
func (s *recSpan) TracerProvider() trace.TracerProvider { return s.t.tp }

// The sdktrace.ReadOnlySpan methods, read by the exporter once the span
// has ended (nothing changes it after).

func (s *recSpan) Name() string                     { return s.name }
func (s *recSpan) SpanContext() trace.SpanContext   { return s.sc }
func (s *recSpan) Parent() trace.SpanContext        { return s.parent }
func (s *recSpan) SpanKind() trace.SpanKind         { return s.kind }
func (s *recSpan) StartTime() time.Time             { return s.start }
func (s *recSpan) EndTime() time.Time               { return s.end }
func (s *recSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s *recSpan) Links() []sdktrace.Link           { return s.links }
func (s *recSpan) Events() []sdktrace.Event         { return s.events }
func (s *recSpan) Status() sdktrace.Status          { return s.status }
func (s *recSpan) Resource() *resource.Resource     { return s.t.res }
func (s *recSpan) DroppedAttributes() int           { return 0 }
func (s *recSpan) DroppedLinks() int                { return 0 }
func (s *recSpan) DroppedEvents() int               { return s.dropped }
func (s *recSpan) ChildSpanCount() int              { return 0 }
func (s *recSpan) InstrumentationScope() instrumentation.Scope {
	return instrumentation.Scope{Name: tracerName}
}

// InstrumentationLibrary is the deprecated name of InstrumentationScope.
func (s *recSpan) InstrumentationLibrary() instrumentation.Scope {
	return instrumentation.Scope{Name: tracerName}
}

var (
	_ trace.Span            = (*recSpan)(nil)
	_ sdktrace.ReadOnlySpan = (*recSpan)(nil)
)
