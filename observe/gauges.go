package observe

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/mcpfort/mcpfort/transport"
)

// PoolStats is a snapshot of one stdio process pool.
type PoolStats struct {
	Processes, InFlight, Queued int
	Starts, Crashes             uint64
}

// Pool names a stdio pool for its gauges.
type Pool struct {
	// Route is the gateway route; Kind tells a route's pools apart
	// ("sessions", "stateless").
	Route, Kind string
	Stats       func() PoolStats
}

// AuditStats is a snapshot of the audit writer.
type AuditStats struct {
	Pending, WriteErrors, Refused, Unrecorded int64
}

// Observe registers the gauges read at each collection: the stdio pools'
// processes, queue depth, calls in flight, starts and crashes (restarts),
// and, when audit is not nil, the audit writer's queue and failures.
func (t *Telemetry) Observe(pools []Pool, audit func() AuditStats) error {
	if !t.metering {
		return nil
	}
	m := t.inst.meter
	procs, err := m.Int64ObservableGauge(MetricStdioProcesses, metric.WithDescription("stdio processes alive or starting, by route and pool."))
	if err != nil {
		return err
	}
	queued, err := m.Int64ObservableGauge(MetricStdioQueued, metric.WithDescription("Callers waiting for a stdio process or a call slot."))
	if err != nil {
		return err
	}
	inflight, err := m.Int64ObservableGauge(MetricStdioInFlight, metric.WithDescription("Calls in flight on stdio processes."))
	if err != nil {
		return err
	}
	starts, err := m.Int64ObservableCounter(MetricStdioStarts, metric.WithDescription("stdio processes started."))
	if err != nil {
		return err
	}
	crashes, err := m.Int64ObservableCounter(MetricStdioCrashes, metric.WithDescription("stdio processes that exited unasked and were restarted."))
	if err != nil {
		return err
	}
	obs := []metric.Observable{procs, queued, inflight, starts, crashes}
	var auditQueue metric.Int64ObservableGauge
	var auditFail metric.Int64ObservableCounter
	if audit != nil {
		if auditQueue, err = m.Int64ObservableGauge(MetricAuditQueue, metric.WithDescription("Audit records admitted and not yet written.")); err != nil {
			return err
		}
		if auditFail, err = m.Int64ObservableCounter(MetricAuditFailures, metric.WithDescription("Audit failures: failed writes, refused and unrecorded calls.")); err != nil {
			return err
		}
		obs = append(obs, auditQueue, auditFail)
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, p := range pools {
			s := p.Stats()
			a := metric.WithAttributes(attribute.String(AttrRoute, p.Route), attribute.String(AttrPool, p.Kind))
			o.ObserveInt64(procs, int64(s.Processes), a)
			o.ObserveInt64(queued, int64(s.Queued), a)
			o.ObserveInt64(inflight, int64(s.InFlight), a)
			o.ObserveInt64(starts, int64(s.Starts), a)
			o.ObserveInt64(crashes, int64(s.Crashes), a)
		}
		if audit != nil {
			s := audit()
			o.ObserveInt64(auditQueue, s.Pending)
			o.ObserveInt64(auditFail, s.WriteErrors, metric.WithAttributes(attribute.String(AttrReason, "write_error")))
			o.ObserveInt64(auditFail, s.Refused, metric.WithAttributes(attribute.String(AttrReason, "refused")))
			o.ObserveInt64(auditFail, s.Unrecorded, metric.WithAttributes(attribute.String(AttrReason, "unrecorded")))
		}
		return nil
	}, obs...)
	return err
}

// TokenValidated records one bearer-token validation: whether the cache
// answered, whether the token was refused, and how long it took, in
// mcpfort.token.validations and in the request's log record (the SERVER
// span gets a "token validation" child span from it).
func (t *Telemetry) TokenValidated(ctx context.Context, hit bool, err error, d time.Duration) {
	cache, result := "miss", "ok"
	if hit {
		cache = "hit"
	}
	if err != nil {
		result = "invalid"
	}
	if rl := transport.RequestLogFrom(ctx); rl != nil {
		rl.TokenCache, rl.TokenTime = cache, d
		if t.tracing {
			rl.TokenStart = time.Now().Add(-d)
		}
	}
	if t.metering {
		t.agg.point(aggTokens, labels{kind: kindToken, name: cache, outcome: result}).add()
	}
}
