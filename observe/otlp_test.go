package observe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps what the SDK's OTLP
// exporter made of the spans.
type captureClient struct{ got []*tracepb.ResourceSpans }

func (c *captureClient) Start(context.Context) error { return nil }
func (c *captureClient) Stop(context.Context) error  { return nil }
func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	c.got = append(c.got, rs...)
	return nil
}

// TestSpanExporterWire sends spans of every shape (all attribute types,
// events, links, statuses, remote and local parents, trace state, a second
// scope, light spans) through spanExporter and the real OTLP/HTTP client
// to a receiver, and compares the request it decodes with what the SDK's
// own OTLP exporter makes of the same spans.
func TestSpanExporterWire(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	res := resource.NewSchemaless(attribute.String("service.name", "mcpfort-test"), attribute.Int("n", 3))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))
	tel := &Telemetry{res: res, proc: rec}
	tr := tp.Tracer(tracerName)
	ts, _ := trace.ParseTraceState("vendor=abc,other=1")
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9, 9}, SpanID: trace.SpanID{7}, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
	ctx, server := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "tools/call echo", trace.WithSpanKind(trace.SpanKindServer))
	server.SetAttributes(
		attribute.String(AttrMCPMethodName, "tools/call"), attribute.Bool("b", true), attribute.Bool("f", false),
		attribute.Int64("i", -42), attribute.Int("zero", 0), attribute.Float64("d", 2.5), attribute.BoolSlice("bs", []bool{true, false}),
		attribute.Int64Slice("is", []int64{1, -2}), attribute.Float64Slice("fs", []float64{0.5}), attribute.StringSlice("ss", []string{"x", ""}),
		attribute.String("empty", ""),
	)
	server.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)), trace.WithTimestamp(time.Unix(1700000000, 5)))
	_, client := tr.Start(ctx, "tools/call echo", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.String("l", "v")}}))
	client.SetStatus(codes.Error, "upstream failed")
	client.End()
	ok := tel.newLightSpan(server.SpanContext(), "policy audit", time.Now(), []attribute.KeyValue{attribute.String(AttrPolicy, "audit")})
	ok.finish(time.Now())
	deny := tel.newLightSpan(server.SpanContext(), "policy rate_limit", time.Now(), []attribute.KeyValue{attribute.String(AttrDecision, "deny")})
	deny.status = sdktrace.Status{Code: codes.Error, Description: "rate limited"}
	deny.finish(time.Now())
	_, okSpan := tr.Start(ctx, "ok")
	okSpan.SetStatus(codes.Ok, "")
	okSpan.End()
	server.End()
	_, other := tp.Tracer("other/scope", trace.WithInstrumentationVersion("1.2"), trace.WithSchemaURL("https://example.com/s")).Start(context.Background(), "other")
	other.End()
	spans := rec.Ended()
	if len(spans) != 6 {
		t.Fatalf("recorded %d spans", len(spans))
	}

	ref := &captureClient{}
	sdkExp, err := otlptrace.New(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := sdkExp.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	exp, err := newSpanExporter(context.Background(), otlptracehttp.NewClient(otlptracehttp.WithEndpoint(strings.TrimPrefix(srv.URL, "http://")), otlptracehttp.WithInsecure()))
	if err != nil {
		t.Fatal(err)
	}
	// Twice: the second batch is written in the first one's buffers.
	for range 2 {
		if err := exp.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || string(bodies[0]) != string(bodies[1]) {
		t.Fatalf("receiver got %d requests, or two that differ", len(bodies))
	}
	var got coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(bodies[1], &got); err != nil {
		t.Fatal(err)
	}
	// Round-trip the reference through the wire too, so both compare as
	// decoded messages.
	raw, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: ref.got})
	if err != nil {
		t.Fatal(err)
	}
	var want coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, &want) {
		t.Errorf("OTLP request differs from the SDK exporter's:\n got %v\nwant %v", &got, &want)
	}
	if n := len(got.ResourceSpans); n != 1 || len(got.ResourceSpans[0].ScopeSpans) != 2 || len(got.ResourceSpans[0].ScopeSpans[0].Spans) != 5 {
		t.Errorf("grouping: %v", &got)
	}
}

// TestSpanExporterInvalidUTF8: a string that is not UTF-8 (which the SDK's
// exporter fails the whole batch for) is sent with replacement characters.
func TestSpanExporterInvalidUTF8(t *testing.T) {
	tel := &Telemetry{}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	s := tel.newLightSpan(parent, "policy \xff", time.Now(), []attribute.KeyValue{attribute.String("k\xfe", "a\xffb")})
	s.end = time.Now()
	raw, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: encodeSpans([]sdktrace.ReadOnlySpan{s})})
	if err != nil {
		t.Fatal(err)
	}
	var got coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	sp := got.ResourceSpans[0].ScopeSpans[0].Spans[0]
	if sp.Name != "policy \uFFFD" || sp.Attributes[0].Key != "k\uFFFD" || sp.Attributes[0].Value.GetStringValue() != "a\uFFFDb" {
		t.Errorf("span %v", sp)
	}
}
