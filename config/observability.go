package config

import (
	"net"
	"net/url"
	"time"
)

// Observability configures OpenTelemetry traces and metrics and the access
// log. Everything is off by default except the access log; the standard
// OTEL_* environment variables turn OTLP export on without any of it
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER=otlp,
// OTEL_METRICS_EXPORTER=otlp, with OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME and
// the rest as the OpenTelemetry specification defines them). What this
// section sets wins over the environment.
type Observability struct {
	// ServiceName names the process in traces and metrics
	// (service.name). Default "mcpfort"; OTEL_SERVICE_NAME overrides it.
	ServiceName string `yaml:"service_name"`
	// AccessLog writes one line per HTTP request to the operational log:
	// request id, method, route, status, duration, MCP method, tool,
	// JSON-RPC error code, client id, a hash of the subject and the trace
	// id; never tokens, arguments or results. Default true.
	AccessLog *bool `yaml:"access_log"`
	// Tracing configures spans and their OTLP export.
	Tracing Tracing `yaml:"tracing"`
	// Metrics configures the Prometheus listener and OTLP metric export.
	Metrics Metrics `yaml:"metrics"`
}

// OTLP configures one OTLP exporter.
type OTLP struct {
	// Enabled turns OTLP export on or off. Default: on when the OTEL_*
	// environment asks for it (OTEL_{TRACES,METRICS}_EXPORTER=otlp or an
	// OTEL_EXPORTER_OTLP_ENDPOINT), else off.
	Enabled *bool `yaml:"enabled"`
	// Endpoint is the collector's base URL: "http://collector:4318" for
	// OTLP/HTTP (the signal's path is appended), "http://collector:4317"
	// for gRPC; http means no TLS. Default: OTEL_EXPORTER_OTLP_ENDPOINT,
	// else localhost.
	Endpoint string `yaml:"endpoint"`
	// Protocol is "http/protobuf" or "grpc". Default:
	// OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.
	Protocol string `yaml:"protocol"`
	// Headers are sent with every export, each value a secret reference
	// (an API key: {authorization: {env: OTLP_TOKEN}}).
	Headers map[string]SecretRef `yaml:"headers"`
}

// Tracing configures spans.
type Tracing struct {
	OTLP `yaml:",inline"`
	// SampleRatio is the share of new traces recorded (0 to 1), by a
	// parent-based sampler: a trusted caller's sampling decision is
	// followed. Default: OTEL_TRACES_SAMPLER, else 1.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// Baggage lists the W3C baggage keys taken from an authenticated
	// caller and passed upstream; all other inbound baggage is dropped.
	Baggage []string `yaml:"baggage"`
}

// Metrics configures metrics.
type Metrics struct {
	OTLP `yaml:",inline"`
	// Listen is the address of a separate listener serving Prometheus
	// /metrics ("127.0.0.1:9464"). Empty: none.
	Listen string `yaml:"listen"`
	// Interval is the OTLP export interval. Default:
	// OTEL_METRIC_EXPORT_INTERVAL, else 60s.
	Interval Duration `yaml:"interval"`
}

func (c *Config) validateObservability(add addFunc) {
	o := c.Observability
	o.Tracing.OTLP.validate("observability.tracing", add)
	o.Metrics.OTLP.validate("observability.metrics", add)
	if r := o.Tracing.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		add("observability.tracing.sample_ratio", "must be between 0 and 1, got %g", *r)
	}
	for i, k := range o.Tracing.Baggage {
		if k == "" {
			add("observability.tracing.baggage", "entry %d is empty", i)
		}
	}
	if l := o.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			add("observability.metrics.listen", "must be host:port, got %q", l)
		} else if l == c.Listen {
			add("observability.metrics.listen", "must differ from listen: metrics are served on a listener of their own")
		}
	}
	if d := o.Metrics.Interval.D(); d != 0 && d < time.Second {
		add("observability.metrics.interval", "must be at least 1s")
	}
}

func (o OTLP) validate(at string, add addFunc) {
	if o.Endpoint != "" {
		if u, err := url.Parse(o.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add(at+".endpoint", "must be an http or https URL, got %q", o.Endpoint)
		}
	}
	switch o.Protocol {
	case "", "http/protobuf", "grpc":
	default:
		add(at+".protocol", "must be http/protobuf or grpc, got %q", o.Protocol)
	}
	// The header values are secret references, checked with every other
	// one (Config.SecretRefs).
}
