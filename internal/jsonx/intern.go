package jsonx

// interned returns the string b holds as a constant when it is one of the
// names and values every JSON-RPC message and MCP call repeats (member
// names of the envelope, of params and results, the protocol's methods),
// so that reading them allocates nothing; otherwise a new string. The
// switch on string(b) does not allocate.
func interned(b []byte) string {
	switch string(b) {
	// JSON-RPC envelope and errors.
	case "jsonrpc":
		return "jsonrpc"
	case "2.0":
		return "2.0"
	case "id":
		return "id"
	case "method":
		return "method"
	case "params":
		return "params"
	case "result":
		return "result"
	case "error":
		return "error"
	case "code":
		return "code"
	case "message":
		return "message"
	case "data":
		return "data"
	// MCP params and results.
	case "name":
		return "name"
	case "arguments":
		return "arguments"
	case "_meta":
		return "_meta"
	case "uri":
		return "uri"
	case "cursor":
		return "cursor"
	case "progressToken":
		return "progressToken"
	case "protocolVersion":
		return "protocolVersion"
	case "capabilities":
		return "capabilities"
	case "clientInfo":
		return "clientInfo"
	case "content":
		return "content"
	case "structuredContent":
		return "structuredContent"
	case "isError":
		return "isError"
	case "type":
		return "type"
	case "text":
		return "text"
	case "tools":
		return "tools"
	case "nextCursor":
		return "nextCursor"
	// The 2026-07-28 request _meta every call carries, and the protocol
	// versions.
	case "io.modelcontextprotocol/protocolVersion":
		return "io.modelcontextprotocol/protocolVersion"
	case "io.modelcontextprotocol/clientCapabilities":
		return "io.modelcontextprotocol/clientCapabilities"
	case "io.modelcontextprotocol/clientInfo":
		return "io.modelcontextprotocol/clientInfo"
	case "2026-07-28":
		return "2026-07-28"
	case "2025-11-25":
		return "2025-11-25"
	case "2025-06-18":
		return "2025-06-18"
	case "2025-03-26":
		return "2025-03-26"
	// MCP methods.
	case "tools/call":
		return "tools/call"
	case "tools/list":
		return "tools/list"
	case "initialize":
		return "initialize"
	case "notifications/initialized":
		return "notifications/initialized"
	case "ping":
		return "ping"
	case "resources/read":
		return "resources/read"
	case "resources/list":
		return "resources/list"
	case "prompts/get":
		return "prompts/get"
	case "prompts/list":
		return "prompts/list"
	case "server/discover":
		return "server/discover"
	}
	return string(b)
}
