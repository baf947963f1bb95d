package observe

import (
	"go.opentelemetry.io/otel/metric"
)

// instruments are the SDK's synchronous instruments the wrappers record
// on: those of rare events only. What every call records is aggregated in
// agg.go.
type instruments struct {
	meter       metric.Meter
	rateLimited metric.Int64Counter
	stdioWait   metric.Float64Histogram
	stdioStart  metric.Float64Histogram
}

func newInstruments(m metric.Meter) (*instruments, error) {
	in := &instruments{meter: m}
	var err error
	hist := func(name, desc string, buckets []float64) metric.Float64Histogram {
		if err != nil {
			return nil
		}
		var h metric.Float64Histogram
		h, err = m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
		return h
	}
	counter := func(name, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = m.Int64Counter(name, metric.WithDescription(desc))
		return c
	}
	in.rateLimited = counter(MetricRateLimitRejected, "Calls refused by a rate limit, by route.")
	in.stdioWait = hist(MetricStdioQueueWait, "Time a caller waited in a stdio pool's queue for a process or a call slot, by route, pool and result; callers served at once are not counted.", stdioWaitBuckets)
	in.stdioStart = hist(MetricStdioStartDuration, "Duration of a stdio process start (spawn and initialize), by route, pool and result.", stdioStartBuckets)
	return in, err
}
