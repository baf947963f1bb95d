package observe

import (
	"reflect"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
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
