package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
	"github.com/mcpfort/mcpfort/observe"
	"github.com/mcpfort/mcpfort/resourceserver"
)

// buildTelemetry sets up traces, metrics and the access log from the
// observability section and the OTEL_* environment.
func (a *App) buildTelemetry(version string) error {
	oc := a.cfg.Observability
	o := observe.Options{
		ServiceName: oc.ServiceName, ServiceVersion: version,
		SampleRatio: oc.Tracing.SampleRatio, BaggageAllow: oc.Tracing.Baggage,
		MetricsInterval: oc.Metrics.Interval.D(), Prometheus: oc.Metrics.Listen != "",
		AccessLog: oc.AccessLog == nil || *oc.AccessLog, Logger: a.log.With("component", "observe"), Getenv: a.getenv,
	}
	var err error
	if o.Traces, err = a.otlp(oc.Tracing.OTLP, "observability.tracing"); err != nil {
		return err
	}
	if o.Metrics, err = a.otlp(oc.Metrics.OTLP, "observability.metrics"); err != nil {
		return err
	}
	// The access log goes to the operational log as it is, without a
	// component attribute: it is a log of its own kind.
	o.Logger = a.log
	t, err := observe.New(context.Background(), o)
	if err != nil {
		return err
	}
	a.tel = t
	a.closers = append(a.closers, t.Shutdown)
	if t.Tracing() {
		a.log.Info("tracing on: spans are exported over OTLP")
	}
	return nil
}

func (a *App) otlp(c config.OTLP, at string) (observe.Export, error) {
	e := observe.Export{Enabled: c.Enabled, Endpoint: c.Endpoint, Protocol: c.Protocol}
	for k, ref := range c.Headers {
		// Taken at start: the exporters hold their headers.
		v, err := a.secret(context.Background(), at+".headers."+k, ref)
		if err != nil {
			return e, errors.New(at + ".headers." + k + ": " + err.Error())
		}
		if e.Headers == nil {
			e.Headers = map[string]string{}
		}
		e.Headers[k] = v.Value().Reveal()
	}
	return e, nil
}

// observeUpstream wraps a route's upstream for CLIENT spans and trace
// context propagation.
func (a *App) observeUpstream(s config.Server, up upstream.Upstream) upstream.Upstream {
	o := observe.UpstreamOptions{Route: s.Name, Stdio: s.Stdio != nil}
	if s.HTTP != nil {
		if u, err := url.Parse(s.HTTP.URL); err == nil {
			o.Address = u.Hostname()
			o.Port, _ = strconv.Atoi(u.Port())
			if o.Port == 0 && u.Scheme == "https" {
				o.Port = 443
			} else if o.Port == 0 {
				o.Port = 80
			}
		}
	}
	return a.tel.Upstream(up, o)
}

// observeGauges registers the gauges of the stdio pools and the audit
// writer.
func (a *App) observeGauges() error {
	var pools []observe.Pool
	for _, p := range a.pools {
		pool := p.pool
		pools = append(pools, observe.Pool{Route: p.route, Kind: p.kind, Stats: func() observe.PoolStats {
			s := pool.Stats()
			return observe.PoolStats{Processes: s.Processes, InFlight: s.InFlight, Queued: s.Queued, Starts: s.Starts, Crashes: s.Crashes}
		}})
	}
	var as func() observe.AuditStats
	if l := a.audit; l != nil {
		as = func() observe.AuditStats {
			s := l.Stats()
			return observe.AuditStats{Pending: s.Pending, WriteErrors: s.WriteErrors, Refused: s.Refused, Unrecorded: s.Unrecorded}
		}
	}
	return a.tel.Observe(pools, as)
}

// namedPool is a stdio pool of a route, for its gauges.
type namedPool struct {
	route, kind string
	pool        *stdio.Pool
}

// observedVerifier records each validation: whether the cache answered
// (the verifier under the cache, wrapped in missMarker, was not asked),
// the outcome and the time.
type observedVerifier struct {
	resourceserver.Verifier
	tel *observe.Telemetry
}

type missKey struct{}

func (v observedVerifier) Verify(ctx context.Context, token string) (*resourceserver.Principal, error) {
	start := time.Now()
	miss := new(bool)
	p, err := v.Verifier.Verify(context.WithValue(ctx, missKey{}, miss), token)
	v.tel.TokenValidated(ctx, !*miss, err, time.Since(start))
	return p, err
}

// missMarker sits under the token cache and notes that it was asked.
type missMarker struct{ resourceserver.Verifier }

func (v missMarker) Verify(ctx context.Context, token string) (*resourceserver.Principal, error) {
	if m, ok := ctx.Value(missKey{}).(*bool); ok {
		*m = true
	}
	return v.Verifier.Verify(ctx, token)
}

// serveMetrics serves Prometheus /metrics on its own listener until ctx
// ends. It returns once the listener is bound.
func (a *App) serveMetrics(ctx context.Context) (stop func(), err error) {
	h := a.tel.PrometheusHandler()
	addr := a.cfg.Observability.Metrics.Listen
	if h == nil || addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errors.New("observability.metrics.listen: " + err.Error())
	}
	a.metricsAddr = ln.Addr()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// MetricsAddr returns the bound address of the metrics listener, once Run
// has started it (nil without one).
func (a *App) MetricsAddr() net.Addr { return a.metricsAddr }

// authServerRoutes are the embedded authorization server's paths, for
// bounded span names and the outcome counters.
func authServerRoutes(issuer string) observe.AuthServerRoutes {
	var b string
	if u, err := url.Parse(issuer); err == nil {
		b = u.Path
	}
	r := observe.AuthServerRoutes{Token: b + "/token", Login: b + "/login", Register: b + "/register"}
	for _, p := range []string{"/authorize", "/token", "/jwks.json", "/register", "/revoke", "/introspect", "/login",
		"/consent", "/logout", "/consents", "/consents/revoke", "/federation/start", "/federation/callback", "/userinfo"} {
		r.All = append(r.All, b+p)
	}
	r.All = append(r.All, "/.well-known/oauth-authorization-server"+b, "/.well-known/openid-configuration"+b)
	return r
}
