package observe

import (
	"context"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

// The metrics recorded on every call are aggregated here, not by the
// OpenTelemetry SDK's synchronous instruments: a point is found once per
// label combination (a map lookup on a comparable key) and recording is
// then a few atomic adds, where an SDK instrument resolves and
// de-duplicates its attribute set and looks up its aggregator on every
// measurement. The aggregates reach every reader (Prometheus, OTLP) through
// the SDK's Producer hook, as cumulative sums and explicit-bucket
// histograms with the same names, units and descriptions the instruments
// had, and with exemplars (one per bucket, the latest) from sampled spans.

// aggKind names an aggregated instrument.
type aggKind uint8

const (
	aggServerDuration aggKind = iota
	aggClientDuration
	aggHTTPDuration
	aggRequests
	aggDecisions
	aggUpstreamErrors
	aggTokens
	aggKinds
)

type aggDesc struct {
	name, desc, unit string
	hist             bool
}

var aggDescs = [aggKinds]aggDesc{
	aggServerDuration: {MetricServerOperationDuration, "Duration of an MCP request or notification as the gateway serves it, from received to answered.", "s", true},
	aggClientDuration: {MetricClientOperationDuration, "Duration of an MCP request or notification the gateway sends upstream, from sent to answered.", "s", true},
	aggHTTPDuration:   {MetricHTTPDuration, "Duration of an HTTP request at the edge, by route and status.", "s", true},
	aggRequests:       {MetricRequests, "MCP messages served, by route, method and outcome (ok, error, refused).", "", false},
	aggDecisions:      {MetricPolicyDecisions, "Policy decisions, by policy, decision (allow, deny) and reason.", "", false},
	aggUpstreamErrors: {MetricUpstreamErrors, "Upstream failures, by route and error type (JSON-RPC code or class).", "", false},
	aggTokens:         {MetricTokenValidations, "Bearer token validations, by result and whether the cache answered.", "", false},
}

// maxPoints bounds the points of one instrument; past it, measurements of
// new label combinations go to one overflow point (attribute
// otel.metric.overflow=true), as the OpenTelemetry cardinality limit does.
// The labels stay bounded by the configuration, the protocol and the
// upstreams' lists, so the limit is a guard.
const maxPoints = 2000

// point is one label combination of one instrument.
type point struct {
	key   aggKey // what the point was made for (cache hits compare it)
	attrs attribute.Set
	start time.Time
	n     atomic.Int64 // counter value, or histogram count
	// Histograms only.
	sum     atomic.Uint64   // float64 bits
	buckets []atomic.Uint64 // len(durationBuckets)+1
	ex      []atomic.Pointer[metricdata.Exemplar[float64]]
	// rel caches counter points that go with this one's labels (see
	// related); never used on an overflow point, whose labels vary.
	rel      [3]atomic.Pointer[point]
	overflow bool
}

// add counts one for a counter point.
func (p *point) add() { p.n.Add(1) }

// record adds v to a histogram point; a sampled span (sc) leaves an
// exemplar in v's bucket.
func (p *point) record(v float64, sc trace.SpanContext) {
	i := sort.SearchFloat64s(durationBuckets, v) // first bound >= v: buckets are (lo, hi]
	p.buckets[i].Add(1)
	p.n.Add(1)
	for {
		old := p.sum.Load()
		if p.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	if sc.IsSampled() {
		tid, sid := sc.TraceID(), sc.SpanID()
		p.ex[i].Store(&metricdata.Exemplar[float64]{Time: time.Now(), Value: v, TraceID: tid[:], SpanID: sid[:]})
	}
}

type aggKey struct {
	kind aggKind
	l    labels
}

// cacheSize is the number of slots in the points' look-aside cache (a
// power of two).
const cacheSize = 512

// aggregates holds every point.
type aggregates struct {
	mu       sync.RWMutex
	points   map[aggKey]*point
	count    [aggKinds]int
	overflow [aggKinds]*point
	// cache holds recently used points, in slots chosen by cacheSlot: a
	// hit costs a few byte reads and one key comparison, where the map
	// hashes every label in full (eight strings) and takes the read lock.
	// A slot holds the point last looked up through it; a miss falls back
	// to the map.
	cache [cacheSize]atomic.Pointer[point]
}

// cacheSlot is k's slot in the cache: a cheap mix of the kind and each
// label's length and first and last bytes. Collisions only cost a map
// look-up.
func cacheSlot(k *aggKey) uint32 {
	l := &k.l
	h := uint32(k.kind)<<8 | uint32(l.kind)
	h = (h ^ sig(l.route)) * 0x01000193
	h = (h ^ sig(l.method)) * 0x01000193
	h = (h ^ sig(l.name)) * 0x01000193
	h = (h ^ sig(l.version)) * 0x01000193
	h = (h ^ sig(l.transport)) * 0x01000193
	h = (h ^ sig(l.errType)) * 0x01000193
	h = (h ^ sig(l.code)) * 0x01000193
	h = (h ^ sig(l.outcome)) * 0x01000193
	return (h ^ h>>16) & (cacheSize - 1)
}

// sig is a few bits of s for cacheSlot: its length and its first, middle
// and last bytes.
func sig(s string) uint32 {
	n := len(s)
	if n == 0 {
		return 0
	}
	return uint32(n) ^ uint32(s[0])<<8 ^ uint32(s[n>>1])<<16 ^ uint32(s[n-1])<<24
}

// point returns the point of l for kind, creating it on first use.
func (a *aggregates) point(kind aggKind, l labels) *point {
	k := aggKey{kind, l}
	slot := &a.cache[cacheSlot(&k)]
	if p := slot.Load(); p != nil && p.key == k {
		return p
	}
	p := a.lookup(&k)
	if !p.overflow {
		slot.Store(p)
	}
	return p
}

// related returns the point of l for kind, where l follows from the
// labels of p (a point just returned by point) and i: it is looked up once
// and then kept in p's slot i.
func (a *aggregates) related(p *point, i int, kind aggKind, l labels) *point {
	if p.overflow {
		return a.point(kind, l)
	}
	if r := p.rel[i].Load(); r != nil {
		return r
	}
	r := a.point(kind, l)
	p.rel[i].Store(r)
	return r
}

// lookup returns the point of k from the map, creating it on first use.
func (a *aggregates) lookup(k0 *aggKey) *point {
	k, kind, l := *k0, k0.kind, k0.l
	a.mu.RLock()
	p := a.points[k]
	a.mu.RUnlock()
	if p != nil {
		return p
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p = a.points[k]; p != nil {
		return p
	}
	if a.points == nil {
		a.points = map[aggKey]*point{}
	}
	if a.count[kind] >= maxPoints {
		if a.overflow[kind] == nil {
			a.overflow[kind] = newPoint(kind, attribute.NewSet(attribute.Bool("otel.metric.overflow", true)))
			a.overflow[kind].overflow = true
		}
		return a.overflow[kind]
	}
	p = newPoint(kind, attribute.NewSet(l.attributes()...))
	p.key = k
	a.points[k] = p
	a.count[kind]++
	return p
}

func newPoint(kind aggKind, attrs attribute.Set) *point {
	p := &point{attrs: attrs, start: time.Now()}
	if aggDescs[kind].hist {
		p.buckets = make([]atomic.Uint64, len(durationBuckets)+1)
		p.ex = make([]atomic.Pointer[metricdata.Exemplar[float64]], len(durationBuckets)+1)
	}
	return p
}

// Produce implements sdkmetric.Producer: the current cumulative values.
func (a *aggregates) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	var byKind [aggKinds][]*point
	a.mu.RLock()
	for k, p := range a.points {
		byKind[k.kind] = append(byKind[k.kind], p)
	}
	for kind, p := range a.overflow {
		if p != nil {
			byKind[kind] = append(byKind[kind], p)
		}
	}
	a.mu.RUnlock()
	sm := metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: meterName}}
	for kind, pts := range byKind {
		if len(pts) == 0 {
			continue
		}
		d := aggDescs[kind]
		m := metricdata.Metrics{Name: d.name, Description: d.desc, Unit: d.unit}
		if d.hist {
			h := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
			for _, p := range pts {
				dp := metricdata.HistogramDataPoint[float64]{Attributes: p.attrs, StartTime: p.start, Time: now,
					Bounds: durationBuckets, BucketCounts: make([]uint64, len(p.buckets))}
				var count uint64
				for i := range p.buckets {
					dp.BucketCounts[i] = p.buckets[i].Load()
					count += dp.BucketCounts[i]
					if e := p.ex[i].Load(); e != nil {
						dp.Exemplars = append(dp.Exemplars, *e)
					}
				}
				// The count is the buckets' sum, so that a collection
				// racing a record stays consistent.
				dp.Count = count
				dp.Sum = math.Float64frombits(p.sum.Load())
				h.DataPoints = append(h.DataPoints, dp)
			}
			m.Data = h
		} else {
			s := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
			for _, p := range pts {
				s.DataPoints = append(s.DataPoints, metricdata.DataPoint[int64]{Attributes: p.attrs, StartTime: p.start, Time: now, Value: p.n.Load()})
			}
			m.Data = s
		}
		sm.Metrics = append(sm.Metrics, m)
	}
	if len(sm.Metrics) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{sm}, nil
}

var _ sdkmetric.Producer = (*aggregates)(nil)
