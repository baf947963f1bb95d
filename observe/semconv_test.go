package observe

import "testing"

// TestConventionNames pins the attribute and metric names to the OpenTelemetry
// semantic conventions for MCP (semantic-conventions docs/gen-ai/mcp.md and
// docs/registry/attributes/{mcp,gen-ai,jsonrpc,rpc,error,network}.md).
// The conventions are in Development: when they rename something, this
// table and the constant change together, on purpose.
func TestConventionNames(t *testing.T) {
	for got, want := range map[string]string{
		AttrMCPMethodName:             "mcp.method.name",
		AttrMCPProtocolVersion:        "mcp.protocol.version",
		AttrMCPSessionID:              "mcp.session.id",
		AttrMCPResourceURI:            "mcp.resource.uri",
		AttrGenAIToolName:             "gen_ai.tool.name",
		AttrGenAIPromptName:           "gen_ai.prompt.name",
		AttrGenAIOperationName:        "gen_ai.operation.name",
		AttrJSONRPCRequestID:          "jsonrpc.request.id",
		AttrRPCResponseStatus:         "rpc.response.status_code",
		AttrErrorType:                 "error.type",
		AttrNetworkTransport:          "network.transport",
		AttrNetworkProtocolName:       "network.protocol.name",
		AttrServerAddress:             "server.address",
		AttrServerPort:                "server.port",
		OperationExecuteTool:          "execute_tool",
		ErrorTypeToolError:            "tool_error",
		ErrorTypeOther:                "_OTHER",
		TransportPipe:                 "pipe",
		TransportTCP:                  "tcp",
		MetaTraceparent:               "traceparent",
		MetaTracestate:                "tracestate",
		MetaBaggage:                   "baggage",
		MetricServerOperationDuration: "mcp.server.operation.duration",
		MetricClientOperationDuration: "mcp.client.operation.duration",
	} {
		if got != want {
			t.Errorf("constant is %q, the conventions say %q", got, want)
		}
	}
	want := []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}
	if len(durationBuckets) != len(want) {
		t.Fatalf("buckets %v, want %v", durationBuckets, want)
	}
	for i := range want {
		if durationBuckets[i] != want[i] {
			t.Fatalf("buckets %v, want %v", durationBuckets, want)
		}
	}
}
