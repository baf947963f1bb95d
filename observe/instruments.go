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
}

func newInstruments(m metric.Meter) (*instruments, error) {
	in := &instruments{meter: m}
	var err error
	counter := func(name, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = m.Int64Counter(name, metric.WithDescription(desc))
		return c
	}
	in.rateLimited = counter(MetricRateLimitRejected, "Calls refused by a rate limit, by route.")
	return in, err
}
