package observe

import (
	"strconv"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mcpfort/mcpfort/mcp"
)

// labels are the attributes of one metric point, as a comparable key: the
// point of a combination is found by it (agg.go), so recording costs no
// sorting and no allocation once a combination has been seen.
type labels struct {
	kind                              uint8
	route, method, name, version      string
	transport, errType, code, outcome string
}

const (
	kindOperation uint8 = iota
	kindRequests
	kindUpstreamError
	kindHTTP     // route is the http.route, method the HTTP method, code the status
	kindDecision // name is the policy, outcome the decision, code the reason
	kindToken    // name is the cache (hit, miss), outcome the result
)

// statusCode is an HTTP status as a label value, without allocating for
// the common ones.
func statusCode(status int) string {
	switch status {
	case 200:
		return "200"
	case 202:
		return "202"
	case 204:
		return "204"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	}
	return strconv.Itoa(status)
}

func (l labels) attributes() []attribute.KeyValue {
	a := make([]attribute.KeyValue, 0, 8)
	if l.kind == kindHTTP {
		st, _ := strconv.Atoi(l.code)
		return append(a, attribute.String(AttrHTTPRoute, l.route), attribute.String(AttrHTTPRequestMethod, l.method),
			attribute.Int(AttrHTTPResponseStatusCode, st))
	}
	switch l.kind {
	case kindDecision:
		a = append(a, attribute.String(AttrPolicy, l.name), attribute.String(AttrDecision, l.outcome))
		if l.code != "" {
			a = append(a, attribute.String(AttrReason, l.code))
		}
		return a
	case kindToken:
		return append(a, attribute.String(AttrCache, l.name), attribute.String(AttrResult, l.outcome))
	}
	a = append(a, attribute.String(AttrRoute, l.route))
	switch l.kind {
	case kindRequests:
		return append(a, attribute.String(AttrMCPMethodName, l.method), attribute.String(AttrOutcome, l.outcome))
	case kindUpstreamError:
		return append(a, attribute.String(AttrErrorType, l.errType))
	}
	a = append(a, attribute.String(AttrMCPMethodName, l.method))
	if l.name != "" {
		switch l.method {
		case "tools/call":
			a = append(a, attribute.String(AttrGenAIToolName, l.name), attribute.String(AttrGenAIOperationName, OperationExecuteTool))
		case "prompts/get":
			a = append(a, attribute.String(AttrGenAIPromptName, l.name))
		}
	}
	if l.version != "" {
		a = append(a, attribute.String(AttrMCPProtocolVersion, l.version))
	}
	if l.transport != "" {
		a = append(a, attribute.String(AttrNetworkTransport, l.transport))
	}
	if l.errType != "" {
		a = append(a, attribute.String(AttrErrorType, l.errType))
	}
	if l.code != "" {
		a = append(a, attribute.String(AttrRPCResponseStatus, l.code))
	}
	return a
}

// metricErrorType bounds error labels: JSON-RPC codes in the reserved
// range (-32768 to -32000, where MCP's own live) and mcpfort's (-31999 to
// -31000) are labels as they are; any other code an upstream invents is
// _OTHER on metrics (spans keep it).
func metricErrorType(errType string, code int64) (string, string) {
	if code == 0 {
		return errType, ""
	}
	if code >= -32768 && code <= -31000 {
		s := strconv.FormatInt(code, 10)
		return s, s
	}
	return ErrorTypeOther, ErrorTypeOther
}

// labelOther stands for a client-chosen name that a metric does not carry
// (the HTTP semantic conventions bound methods the same way).
const labelOther = "_OTHER"

// methodLabel is a JSON-RPC method as a metric label: a method MCP defines
// as it is, any other labelOther. The client chooses the method, and every
// distinct label value is a point kept for the life of the process.
func methodLabel(m string) string {
	switch m {
	case "", mcp.MethodInitialize, mcp.MethodPing, mcp.MethodToolsList, mcp.MethodToolsCall,
		mcp.MethodResourcesList, mcp.MethodResourcesTemplates, mcp.MethodResourcesRead,
		mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe, mcp.MethodPromptsList,
		mcp.MethodPromptsGet, mcp.MethodCompletionComplete, mcp.MethodLoggingSetLevel,
		mcp.MethodServerDiscover, mcp.MethodSubscriptionsListen, mcp.MethodElicitationCreate,
		mcp.MethodSamplingCreateMessage, mcp.MethodRootsList,
		mcp.NotificationInitialized, mcp.NotificationCancelled, mcp.NotificationProgress,
		mcp.NotificationMessage, mcp.NotificationToolsListChanged, mcp.NotificationPromptsListChanged,
		mcp.NotificationResourcesListChanged, mcp.NotificationResourcesUpdated,
		mcp.NotificationRootsListChanged, mcp.NotificationSubscriptionsAck:
		return m
	}
	return labelOther
}

// maxNameLabel is the longest tool or prompt name a metric carries.
const maxNameLabel = 128

// nameLabel is a tool or prompt name as a metric label: as the client sent
// it when it has the form MCP gives tool names (2025-11-25
// server/tools, "Tool Names": 1 to 128 characters of A-Z, a-z, 0-9, "_",
// "-" and "."), labelOther otherwise, so that a label is never longer than
// that nor holds what a scrape would have to escape. Spans and the audit
// records keep it, cut at 1 KiB.
func nameLabel(n string) string {
	if n == "" {
		return ""
	}
	if len(n) > maxNameLabel {
		return labelOther
	}
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '.':
		default:
			return labelOther
		}
	}
	return n
}
