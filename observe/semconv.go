package observe

// Attribute, metric and value names of the OpenTelemetry semantic
// conventions for MCP (semantic-conventions docs/gen-ai/mcp.md, model/mcp;
// status Development), for the general network, server, error, RPC and
// HTTP attributes they reuse, and mcpfort's own. They are kept here, in one
// place, because the conventions are still moving: the Go semconv packages
// dropped the MCP and GenAI names after v1.41.0. semconv_test.go pins
// them.
const (
	// MCP span and metric attributes.
	AttrMCPMethodName      = "mcp.method.name"
	AttrMCPProtocolVersion = "mcp.protocol.version"
	AttrMCPSessionID       = "mcp.session.id" // legacy sessions only; never for 2026-07-28
	AttrMCPResourceURI     = "mcp.resource.uri"
	AttrGenAIToolName      = "gen_ai.tool.name"
	AttrGenAIPromptName    = "gen_ai.prompt.name"
	AttrGenAIOperationName = "gen_ai.operation.name"
	AttrJSONRPCRequestID   = "jsonrpc.request.id"
	AttrRPCResponseStatus  = "rpc.response.status_code"
	AttrErrorType          = "error.type"

	// Network, server, client and HTTP attributes.
	AttrNetworkTransport       = "network.transport"
	AttrNetworkProtocolName    = "network.protocol.name"
	AttrServerAddress          = "server.address"
	AttrServerPort             = "server.port"
	AttrHTTPRequestMethod      = "http.request.method"
	AttrHTTPResponseStatusCode = "http.response.status_code"
	AttrHTTPRoute              = "http.route"

	// Values.
	OperationExecuteTool = "execute_tool" // gen_ai.operation.name of tools/call
	ErrorTypeToolError   = "tool_error"   // a CallToolResult with isError: true
	ErrorTypeOther       = "_OTHER"
	TransportPipe        = "pipe" // stdio
	TransportTCP         = "tcp"  // Streamable HTTP

	// Trace context keys in params._meta (MCP 2026-07-28 basic "_meta";
	// SEP-414): the one exception to the prefix rule for _meta keys.
	MetaTraceparent = "traceparent"
	MetaTracestate  = "tracestate"
	MetaBaggage     = "baggage"

	// MCP metrics (model/mcp/metrics.yaml), histograms in seconds.
	MetricServerOperationDuration = "mcp.server.operation.duration"
	MetricClientOperationDuration = "mcp.client.operation.duration"

	// mcpfort's own attributes. None carries a subject, session or
	// argument value: label cardinality stays bounded by the
	// configuration and the upstreams' tool lists.
	AttrRoute    = "mcpfort.route"    // the gateway route (server name)
	AttrPolicy   = "mcpfort.policy"   // a policy of the chain
	AttrDecision = "mcpfort.decision" // allow or deny
	AttrReason   = "mcpfort.reason"   // a refusal's JSON-RPC code, or "error"
	AttrOutcome  = "mcpfort.outcome"  // ok, error or refused
	AttrCache    = "mcpfort.cache"    // hit or miss
	AttrResult   = "mcpfort.result"   // ok or the failure class
	AttrGrant    = "mcpfort.grant"    // an OAuth grant type

	// mcpfort's own metrics.
	MetricRequests          = "mcpfort.requests"
	MetricPolicyDecisions   = "mcpfort.policy.decisions"
	MetricRateLimitRejected = "mcpfort.ratelimit.rejections"
	MetricTokenValidations  = "mcpfort.token.validations"
	MetricUpstreamErrors    = "mcpfort.upstream.errors"
	MetricHTTPDuration      = "mcpfort.http.request.duration"
	MetricStdioProcesses    = "mcpfort.stdio.processes"
	MetricStdioQueued       = "mcpfort.stdio.queue.depth"
	MetricStdioInFlight     = "mcpfort.stdio.in_flight"
	MetricStdioStarts       = "mcpfort.stdio.starts"
	MetricStdioCrashes      = "mcpfort.stdio.restarts"
	MetricAuditQueue        = "mcpfort.audit.queue"
	MetricAuditFailures     = "mcpfort.audit.failures"
	MetricAuthTokensIssued  = "mcpfort.authserver.tokens.issued"
	MetricAuthSignIns       = "mcpfort.authserver.signins"
	MetricAuthRegistrations = "mcpfort.authserver.registrations"
)

// durationBuckets are the explicit histogram boundaries, in seconds, the
// MCP conventions advise for the operation duration metrics.
var durationBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}
