// Package observe is mcpfort's telemetry: OpenTelemetry traces and metrics
// following the MCP semantic conventions, OTLP export (HTTP or gRPC), a
// Prometheus /metrics handler, the access log and request ids.
//
// It composes with the rest of mcpfort instead of reaching into it:
// [Telemetry.Middleware] is the outermost MCP-plane middleware (the SERVER
// span of an inbound message and its metrics), [Telemetry.Policy] wraps
// one policy (a child span and a decision counter), [Telemetry.Upstream]
// wraps an upstream (the CLIENT span of each hop, with the gateway's own
// span context injected into HTTP headers and, for stdio and 2026-07-28
// upstreams, into params._meta), [Telemetry.Stdio] observes a stdio pool
// (queue waits and process starts, as spans under the CLIENT span and
// histograms), and [Telemetry.HTTP] is the edge's request id and access
// log. app wires them from the configuration.
//
// No global state: the tracer and meter providers, the propagator and the
// Prometheus registry belong to one Telemetry and are never installed as
// the OpenTelemetry or Prometheus defaults, so two gateways can live in one
// process.
//
// The OpenTelemetry and Prometheus modules are confined to this package;
// nothing it exports mentions their types except [Telemetry.TracerProvider]
// and [Telemetry.MeterProvider], which tests and embedders use. It imports
// the gateway (for the Middleware and Upstream shapes), never a policy, the
// authorization server or config.
package observe
