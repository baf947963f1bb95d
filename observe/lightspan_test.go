package observe

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestLightSpanMethods calls every exported method of the ReadOnlySpan
// interface on a lightSpan: one the type does not define would be the
// embedded nil interface's, and panic here rather than in an exporter.
func TestLightSpanMethods(t *testing.T) {
	tel := &Telemetry{}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	s := tel.newLightSpan(parent, "policy audit", time.Now(), nil)
	var ro sdktrace.ReadOnlySpan = s
	it := reflect.TypeFor[sdktrace.ReadOnlySpan]()
	v := reflect.ValueOf(ro)
	called := 0
	for i := range it.NumMethod() {
		m := it.Method(i)
		if !m.IsExported() {
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("lightSpan does not define %s: %v", m.Name, r)
				}
			}()
			v.MethodByName(m.Name).Call(nil)
			called++
		}()
	}
	if called < 17 {
		t.Errorf("called %d methods, want the interface's 17 or more", called)
	}
	if sc := s.SpanContext(); sc.TraceID() != parent.TraceID() || sc.SpanID() == parent.SpanID() || !sc.SpanID().IsValid() || !sc.IsSampled() {
		t.Errorf("span context %v under parent %v", sc, parent)
	}
	if !s.Parent().Equal(parent) || s.SpanKind() != trace.SpanKindInternal {
		t.Errorf("parent %v kind %v", s.Parent(), s.SpanKind())
	}
	if s.InstrumentationScope().Name != tracerName {
		t.Errorf("scope %v", s.InstrumentationScope())
	}
}

// TestRecSpanMethods calls every exported method of ReadOnlySpan and
// trace.Span on a recSpan (an undefined one would panic on the nil
// embedded interface), and checks what a span does after its end: nothing.
func TestRecSpanMethods(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel := &Telemetry{proc: rec, sampler: sdktrace.AlwaysSample()}
	_, span := tel.startSpan(context.Background(), "tools/call echo", trace.SpanKindServer)
	s, ok := span.(*recSpan)
	if !ok {
		t.Fatalf("sampled span is %T", span)
	}
	setAttrs(span, []attribute.KeyValue{attribute.String("a", "1"), attribute.String("b", "2")})
	span.SetAttributes(attribute.String("a", "3"), attribute.String("c", "4"))
	span.SetStatus(codes.Error, "failed")
	span.SetStatus(codes.Unset, "")
	span.RecordError(errors.New("boom"))
	for _, it := range []reflect.Type{reflect.TypeFor[sdktrace.ReadOnlySpan](), reflect.TypeFor[trace.Span]()} {
		v := reflect.ValueOf(s)
		for i := range it.NumMethod() {
			m := it.Method(i)
			if !m.IsExported() || m.Type.NumIn() > 0 || m.Name == "End" {
				continue
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("recSpan does not define %s: %v", m.Name, r)
					}
				}()
				v.MethodByName(m.Name).Call(nil)
			}()
		}
	}
	span.End()
	span.SetAttributes(attribute.String("late", "x"))
	span.SetName("late")
	span.End()
	ended := rec.Ended()
	if len(ended) != 1 || ended[0] != sdktrace.ReadOnlySpan(s) {
		t.Fatalf("ended %v", ended)
	}
	got := map[string]string{}
	for _, kv := range s.Attributes() {
		got[string(kv.Key)] = kv.Value.AsString()
	}
	if len(s.Attributes()) != 3 || got["a"] != "3" || got["b"] != "2" || got["c"] != "4" {
		t.Errorf("attributes %v", s.Attributes())
	}
	if s.Status().Code != codes.Error || s.Status().Description != "failed" || s.Name() != "tools/call echo" || span.IsRecording() {
		t.Errorf("status %v name %q recording %v", s.Status(), s.Name(), span.IsRecording())
	}
	if len(s.Events()) != 1 || s.Events()[0].Name != "exception" || !s.SpanContext().IsSampled() || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("events %v context %v", s.Events(), s.SpanContext())
	}

	tel.sampler = sdktrace.NeverSample()
	ctx, span := tel.startSpan(context.Background(), "x", trace.SpanKindServer)
	if span.IsRecording() || span.SpanContext().IsSampled() || !span.SpanContext().IsValid() || !trace.SpanContextFromContext(ctx).Equal(span.SpanContext()) {
		t.Errorf("unsampled span %v recording %v", span.SpanContext(), span.IsRecording())
	}
}
