package observe

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

func collect(t *testing.T, a *aggregates) map[string]metricdata.Metrics {
	t.Helper()
	r := sdkmetric.NewManualReader(sdkmetric.WithProducer(a))
	sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// TestAggregates: histogram points count each value in the bucket whose
// upper bound is the first not below it (Prometheus "le"), sum exactly,
// keep an exemplar only for sampled spans; counters count; concurrent
// recording loses nothing; past maxPoints, new combinations share one
// overflow point.
func TestAggregates(t *testing.T) {
	var a aggregates
	l := labels{route: "r", method: "tools/call", name: "echo"}
	p := a.point(aggServerDuration, l)
	if a.point(aggServerDuration, l) != p {
		t.Fatal("a second lookup made a second point")
	}
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{3}, SpanID: trace.SpanID{4}})
	p.record(0.01, unsampled) // on the first bound: first bucket
	p.record(0.015, sampled)  // second bucket, with an exemplar
	p.record(1000, trace.SpanContext{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				a.point(aggRequests, labels{kind: kindRequests, route: "r", method: "tools/call", outcome: "ok"}).add()
				a.point(aggHTTPDuration, labels{kind: kindHTTP, route: "/mcp", method: "POST", code: "200"}).record(0.001, trace.SpanContext{})
			}
		}()
	}
	wg.Wait()
	got := collect(t, &a)

	h := got[MetricServerOperationDuration].Data.(metricdata.Histogram[float64])
	if len(h.DataPoints) != 1 {
		t.Fatalf("%d points", len(h.DataPoints))
	}
	dp := h.DataPoints[0]
	if dp.Count != 3 || dp.Sum != 1000.025 || dp.BucketCounts[0] != 1 || dp.BucketCounts[1] != 1 || dp.BucketCounts[len(durationBuckets)] != 1 {
		t.Errorf("histogram point: count %d sum %v buckets %v", dp.Count, dp.Sum, dp.BucketCounts)
	}
	if v, _ := dp.Attributes.Value(AttrGenAIToolName); v.AsString() != "echo" {
		t.Errorf("attributes: %v", dp.Attributes.ToSlice())
	}
	if len(dp.Exemplars) != 1 || dp.Exemplars[0].Value != 0.015 || trace.TraceID(dp.Exemplars[0].TraceID) != (trace.TraceID{1}) {
		t.Errorf("exemplars: %+v", dp.Exemplars)
	}
	if m := got[MetricServerOperationDuration]; m.Unit != "s" || m.Description == "" {
		t.Errorf("metric metadata: %+v", m)
	}
	s := got[MetricRequests].Data.(metricdata.Sum[int64])
	if !s.IsMonotonic || s.Temporality != metricdata.CumulativeTemporality || s.DataPoints[0].Value != 8000 {
		t.Errorf("counter: %+v", s)
	}
	if c := got[MetricHTTPDuration].Data.(metricdata.Histogram[float64]).DataPoints[0].Count; c != 8000 {
		t.Errorf("http histogram count %d, want 8000", c)
	}

	for i := range maxPoints + 10 {
		a.point(aggUpstreamErrors, labels{kind: kindUpstreamError, route: "r", errType: fmt.Sprint(i)}).add()
	}
	got = collect(t, &a)
	pts := got[MetricUpstreamErrors].Data.(metricdata.Sum[int64]).DataPoints
	if len(pts) != maxPoints+1 {
		t.Fatalf("%d points, want %d and the overflow", len(pts), maxPoints)
	}
	for _, p := range pts {
		if p.Attributes.HasValue(attribute.Key("otel.metric.overflow")) && p.Value != 10 {
			t.Errorf("overflow point counts %d, want 10", p.Value)
		}
	}
}

// TestAggregatesCache: the look-aside cache never hands out another
// combination's point, however the slots collide (combinations that
// differ only in bytes cacheSlot does not read, and many more
// combinations than slots), nor the overflow point to a combination that
// has its own; related points follow their combination, and an overflow
// point keeps none.
func TestAggregatesCache(t *testing.T) {
	var a aggregates
	var ls []labels
	for i := range 3 * cacheSize {
		// "tool-a0b" and "tool-a1b" share length and first, middle and
		// last bytes: the same signature.
		ls = append(ls, labels{route: "r", method: "tools/call", name: fmt.Sprintf("t%03dx", i), version: "2025-11-25"})
		ls = append(ls, labels{route: "r", method: "tools/call", name: fmt.Sprintf("to%cl-a%db", 'a'+i%20, i%10), version: "2025-11-25"})
	}
	want := map[labels]*point{}
	for range 3 {
		for _, l := range ls {
			p := a.point(aggServerDuration, l)
			if p.overflow {
				continue
			}
			if p.key != (aggKey{aggServerDuration, l}) {
				t.Fatalf("point of %+v is %+v's", l, p.key.l)
			}
			if q, ok := want[l]; ok && q != p {
				t.Fatalf("a second point for %+v", l)
			}
			want[l] = p
			r := a.related(p, 0, aggRequests, labels{kind: kindRequests, route: l.route, method: l.method, outcome: l.name})
			if r.key.l.outcome != l.name {
				t.Fatalf("related point of %+v is %+v's", l, r.key.l)
			}
		}
	}
	// Past maxPoints new combinations share the overflow point, which
	// keeps no related points: each lookup goes to its own.
	for i := range maxPoints + 5 {
		a.point(aggClientDuration, labels{route: "r", method: "tools/call", name: fmt.Sprint(i)})
	}
	ov := a.point(aggClientDuration, labels{route: "r", method: "tools/call", name: "new"})
	if !ov.overflow {
		t.Fatal("no overflow point")
	}
	r1 := a.related(ov, 0, aggUpstreamErrors, labels{kind: kindUpstreamError, route: "r", errType: "a"})
	r2 := a.related(ov, 0, aggUpstreamErrors, labels{kind: kindUpstreamError, route: "r", errType: "b"})
	if r1 == r2 || r2.key.l.errType != "b" {
		t.Fatal("the overflow point kept a related point")
	}
	if p := a.point(aggClientDuration, labels{route: "r", method: "tools/call", name: "0"}); p.overflow || p.key.l.name != "0" {
		t.Fatal("a combination with its own point got the overflow point")
	}
}
