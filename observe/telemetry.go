package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// OTLP protocols (OTEL_EXPORTER_OTLP_PROTOCOL values).
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Export configures one OTLP exporter. The zero value defers to the
// standard OTEL_* environment variables: export is on when
// OTEL_{TRACES,METRICS}_EXPORTER is "otlp" or an OTEL_EXPORTER_OTLP_ENDPOINT
// (or its per-signal variant) is set, and off otherwise; the exporter then
// reads endpoint, headers, protocol, TLS and timeout from the environment
// as the OpenTelemetry specification describes.
type Export struct {
	// Enabled turns OTLP export on (true) or off (false) whatever the
	// environment says. If nil, the environment decides.
	Enabled *bool
	// Endpoint is the collector's base URL ("http://collector:4318",
	// "https://collector:4317"); for OTLP/HTTP the signal's path
	// (/v1/traces, /v1/metrics) is appended, as for
	// OTEL_EXPORTER_OTLP_ENDPOINT. An http URL means no TLS. If empty, the
	// environment's, else the exporter's default (localhost).
	Endpoint string
	// Protocol is ProtocolHTTP or ProtocolGRPC. If empty,
	// OTEL_EXPORTER_OTLP_{TRACES_,METRICS_,}PROTOCOL, else ProtocolHTTP.
	Protocol string
	// Headers are sent with every export (an API key). They add to the
	// environment's OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string
}

// Options configures a Telemetry. The zero value exports nothing and
// serves no /metrics unless the OTEL_* environment turns export on; the
// access log is off.
type Options struct {
	// ServiceName and ServiceVersion name this process in traces and
	// metrics. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override
	// them. If empty, "mcpfort" and no version.
	ServiceName, ServiceVersion string
	// Traces configures OTLP trace export.
	Traces Export
	// SampleRatio is the share of new traces recorded, by a parent-based
	// sampler: a request whose trusted caller sampled (or did not sample)
	// its trace follows that choice. If nil, OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG decide, else every trace is recorded.
	SampleRatio *float64
	// Metrics configures OTLP metric export.
	Metrics Export
	// MetricsInterval is the OTLP metric export interval. If zero,
	// OTEL_METRIC_EXPORT_INTERVAL, else 60s.
	MetricsInterval time.Duration
	// Prometheus exposes the metrics for scraping: PrometheusHandler
	// returns the handler to serve on its own listener.
	Prometheus bool
	// BaggageAllow lists the W3C baggage keys taken from an authenticated
	// caller's request and passed upstream; any other key is dropped. If
	// empty, all inbound baggage is dropped.
	BaggageAllow []string
	// AccessLog writes one line per HTTP request to Logger (see HTTP).
	AccessLog bool
	// Logger receives the access log and export errors. If nil, nothing
	// is logged.
	Logger *slog.Logger
	// Getenv reads the OTEL_* variables that decide whether to export. If
	// nil, os.Getenv. (The exporters read their own settings from the
	// process environment.)
	Getenv func(string) string

	// testSpans, set by this package's tests, receives the spans
	// synchronously instead of an OTLP exporter.
	testSpans sdktrace.SpanExporter
	// testMetrics, set by this package's tests, reads the metrics.
	// It is given the Producer of the aggregated instruments (agg.go).
	testMetrics func(sdkmetric.Producer) sdkmetric.Reader
}

// Telemetry owns a tracer provider, a meter provider, a propagator and a
// Prometheus registry, and builds the instrumentation of the gateway from
// them. Safe for concurrent use.
type Telemetry struct {
	tp       trace.TracerProvider
	tracer   trace.Tracer
	tracing  bool // a recording tracer provider
	prop     propagation.TextMapPropagator
	mp       metric.MeterProvider
	metering bool
	// parentBased is set when the sampler is parent-based (the
	// configured ratio, or the default): an unsampled span's children are
	// not started.
	parentBased bool
	reg         *prometheus.Registry
	inst        *instruments
	allow       map[string]bool
	log         *slog.Logger
	access      bool
	closers     []func(context.Context) error
	agg         aggregates
	// res and proc are the tracer provider's resource and span
	// processor: lightSpans go to proc directly.
	res  *resource.Resource
	proc sdktrace.SpanProcessor
	// sampler is the tracer provider's sampler when New chose it (not
	// the environment): the SERVER and CLIENT spans ask it themselves
	// (span.go).
	sampler sdktrace.Sampler
	slots   atomic.Uint32 // policy slots handed out (Policy)
}

// New builds a Telemetry. Nothing is exported until spans end or the
// metric interval passes; call Shutdown to flush and stop.
func New(ctx context.Context, o Options) (_ *Telemetry, err error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Telemetry{
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		log:    log,
		access: o.AccessLog && o.Logger != nil,
		allow:  map[string]bool{},
	}
	for _, k := range o.BaggageAllow {
		t.allow[k] = true
	}
	defer func() {
		if err != nil {
			_ = t.Shutdown(context.Background())
		}
	}()
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		o.Traces.Enabled, o.Metrics.Enabled = ptr(false), ptr(false)
	}
	name := o.ServiceName
	if name == "" {
		name = "mcpfort"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if o.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", o.ServiceVersion))
	}
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("observe: resource: %w", err)
	}

	t.tp, t.tracer = tracenoop.NewTracerProvider(), nil
	if o.testSpans != nil || exporting(o.Traces, getenv, "TRACES") {
		topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
		if o.testSpans != nil {
			t.proc = sdktrace.NewSimpleSpanProcessor(o.testSpans)
		} else {
			exp, err := traceExporter(ctx, o.Traces, getenv)
			if err != nil {
				return nil, err
			}
			t.proc = sdktrace.NewBatchSpanProcessor(exp)
		}
		topts = append(topts, sdktrace.WithSpanProcessor(t.proc))
		t.res = res
		if o.SampleRatio != nil {
			t.sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*o.SampleRatio))
		} else if getenv("OTEL_TRACES_SAMPLER") == "" {
			t.sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
		}
		if t.sampler != nil {
			topts = append(topts, sdktrace.WithSampler(t.sampler))
			t.parentBased = true
		}
		sdk := sdktrace.NewTracerProvider(topts...)
		t.closers = append(t.closers, sdk.Shutdown)
		t.tp, t.tracing = sdk, true
	}
	t.tracer = t.tp.Tracer(tracerName)

	var readers []sdkmetric.Option
	if o.testMetrics != nil {
		readers = append(readers, sdkmetric.WithReader(o.testMetrics(&t.agg)))
	}
	if o.Prometheus {
		t.reg = prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(t.reg), otelprom.WithoutScopeInfo(), otelprom.WithProducer(&t.agg))
		if err != nil {
			return nil, fmt.Errorf("observe: prometheus exporter: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(exp))
	}
	if exporting(o.Metrics, getenv, "METRICS") {
		exp, err := metricExporter(ctx, o.Metrics, getenv)
		if err != nil {
			return nil, err
		}
		var ropts []sdkmetric.PeriodicReaderOption
		if o.MetricsInterval > 0 {
			ropts = append(ropts, sdkmetric.WithInterval(o.MetricsInterval))
		}
		ropts = append(ropts, sdkmetric.WithProducer(&t.agg))
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, ropts...)))
	}
	if len(readers) > 0 {
		mp := sdkmetric.NewMeterProvider(append(readers, sdkmetric.WithResource(res))...)
		t.closers = append(t.closers, mp.Shutdown)
		t.mp, t.metering = mp, true
	} else {
		t.mp = metricnoop.NewMeterProvider()
	}
	if t.inst, err = newInstruments(t.mp.Meter(meterName)); err != nil {
		return nil, err
	}
	return t, nil
}

func ptr[T any](v T) *T { return &v }

// meterName and tracerName are the instrumentation scope of every metric
// and span of the package.
const (
	meterName  = "github.com/mcpfort/mcpfort/observe"
	tracerName = meterName
)

// exporting decides whether a signal is exported: the configuration if it
// says, else the standard environment.
func exporting(e Export, getenv func(string) string, signal string) bool {
	if e.Enabled != nil {
		return *e.Enabled
	}
	switch strings.TrimSpace(strings.ToLower(getenv("OTEL_" + signal + "_EXPORTER"))) {
	case "otlp":
		return true
	case "none", "console", "prometheus":
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

func protocol(e Export, getenv func(string) string, signal string) (string, error) {
	p := e.Protocol
	if p == "" {
		p = getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	}
	if p == "" {
		p = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch p {
	case "", ProtocolHTTP:
		return ProtocolHTTP, nil
	case ProtocolGRPC:
		return ProtocolGRPC, nil
	}
	return "", fmt.Errorf("observe: OTLP protocol %q not supported (want %s or %s)", p, ProtocolHTTP, ProtocolGRPC)
}

// endpoint splits a configured base URL for the exporters.
func endpoint(raw, path string) (host, urlPath string, insecure bool, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", false, fmt.Errorf("observe: OTLP endpoint %q must be an http or https URL", raw)
	}
	return u.Host, strings.TrimSuffix(u.Path, "/") + path, u.Scheme == "http", nil
}

func traceExporter(ctx context.Context, e Export, getenv func(string) string) (sdktrace.SpanExporter, error) {
	p, err := protocol(e, getenv, "TRACES")
	if err != nil {
		return nil, err
	}
	if p == ProtocolGRPC {
		var opts []otlptracegrpc.Option
		if e.Endpoint != "" {
			host, _, insecure, err := endpoint(e.Endpoint, "")
			if err != nil {
				return nil, err
			}
			opts = append(opts, otlptracegrpc.WithEndpoint(host))
			if insecure {
				opts = append(opts, otlptracegrpc.WithInsecure())
			}
		}
		if len(e.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(e.Headers))
		}
		return newSpanExporter(ctx, otlptracegrpc.NewClient(opts...))
	}
	var opts []otlptracehttp.Option
	if e.Endpoint != "" {
		host, path, insecure, err := endpoint(e.Endpoint, "/v1/traces")
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlptracehttp.WithEndpoint(host), otlptracehttp.WithURLPath(path))
		if insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
	}
	if len(e.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(e.Headers))
	}
	return newSpanExporter(ctx, otlptracehttp.NewClient(opts...))
}

func metricExporter(ctx context.Context, e Export, getenv func(string) string) (sdkmetric.Exporter, error) {
	p, err := protocol(e, getenv, "METRICS")
	if err != nil {
		return nil, err
	}
	if p == ProtocolGRPC {
		var opts []otlpmetricgrpc.Option
		if e.Endpoint != "" {
			host, _, insecure, err := endpoint(e.Endpoint, "")
			if err != nil {
				return nil, err
			}
			opts = append(opts, otlpmetricgrpc.WithEndpoint(host))
			if insecure {
				opts = append(opts, otlpmetricgrpc.WithInsecure())
			}
		}
		if len(e.Headers) > 0 {
			opts = append(opts, otlpmetricgrpc.WithHeaders(e.Headers))
		}
		return otlpmetricgrpc.New(ctx, opts...)
	}
	var opts []otlpmetrichttp.Option
	if e.Endpoint != "" {
		host, path, insecure, err := endpoint(e.Endpoint, "/v1/metrics")
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlpmetrichttp.WithEndpoint(host), otlpmetrichttp.WithURLPath(path))
		if insecure {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		}
	}
	if len(e.Headers) > 0 {
		opts = append(opts, otlpmetrichttp.WithHeaders(e.Headers))
	}
	return otlpmetrichttp.New(ctx, opts...)
}

// Tracing reports whether spans are recorded and exported.
func (t *Telemetry) Tracing() bool { return t.tracing }

// TracerProvider returns the provider the instrumentation uses (a no-op
// one when tracing is off).
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the provider the instrumentation uses (a no-op
// one when metrics are off).
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// PrometheusHandler returns the /metrics handler (OpenMetrics when the
// scraper asks, with exemplars carrying trace ids), or nil when
// Options.Prometheus is off. Serve it on a listener of its own: metrics
// are for the operator, not for MCP clients.
func (t *Telemetry) PrometheusHandler() http.Handler {
	if t.reg == nil {
		return nil
	}
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Shutdown flushes what is buffered and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i](ctx))
	}
	t.closers = nil
	return errors.Join(errs...)
}

// allowedBaggage keeps the allow-listed members of b.
func (t *Telemetry) allowedBaggage(b baggage.Baggage) baggage.Baggage {
	if b.Len() == 0 {
		return b
	}
	var keep []baggage.Member
	for _, m := range b.Members() {
		if t.allow[m.Key()] {
			keep = append(keep, m)
		}
	}
	out, _ := baggage.New(keep...)
	return out
}
