package observe

import (
	"go.opentelemetry.io/otel/metric"
)

// instruments are the synchronous instruments the wrappers record on.
type instruments struct {
	meter          metric.Meter
	serverDuration metric.Float64Histogram
	clientDuration metric.Float64Histogram
	requests       metric.Int64Counter
	decisions      metric.Int64Counter
	rateLimited    metric.Int64Counter
	tokens         metric.Int64Counter
	upstreamErrors metric.Int64Counter
	httpDuration   metric.Float64Histogram
	stdioWait      metric.Float64Histogram
	stdioStart     metric.Float64Histogram
}

func newInstruments(m metric.Meter) (*instruments, error) {
	in := &instruments{meter: m}
	var err error
	hist := func(name, desc string, buckets []float64) metric.Float64Histogram {
		if err != nil {
			return nil
		}
		opts := []metric.Float64HistogramOption{metric.WithUnit("s"), metric.WithDescription(desc)}
		if buckets != nil {
			opts = append(opts, metric.WithExplicitBucketBoundaries(buckets...))
		}
		var h metric.Float64Histogram
		h, err = m.Float64Histogram(name, opts...)
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
	in.serverDuration = hist(MetricServerOperationDuration, "Duration of an MCP request or notification as the gateway serves it, from received to answered.", durationBuckets)
	in.clientDuration = hist(MetricClientOperationDuration, "Duration of an MCP request or notification the gateway sends upstream, from sent to answered.", durationBuckets)
	in.httpDuration = hist(MetricHTTPDuration, "Duration of an HTTP request at the edge, by route and status.", durationBuckets)
	in.requests = counter(MetricRequests, "MCP messages served, by route, method and outcome (ok, error, refused).")
	in.decisions = counter(MetricPolicyDecisions, "Policy decisions, by policy, decision (allow, deny) and reason.")
	in.rateLimited = counter(MetricRateLimitRejected, "Calls refused by a rate limit, by route.")
	in.tokens = counter(MetricTokenValidations, "Bearer token validations, by result and whether the cache answered.")
	in.upstreamErrors = counter(MetricUpstreamErrors, "Upstream failures, by route and error type (JSON-RPC code or class).")
	in.stdioWait = hist(MetricStdioQueueWait, "Time a caller waited in a stdio pool's queue for a process or a call slot, by route, pool and result; callers served at once are not counted.", stdioWaitBuckets)
	in.stdioStart = hist(MetricStdioStartDuration, "Duration of a stdio process start (spawn and initialize), by route, pool and result.", stdioStartBuckets)
	return in, err
}
