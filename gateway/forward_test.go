package gateway

import (
	"net/http"
	"reflect"
	"testing"
)

// TestForwardHeaders: only the 2026-07-28 request metadata headers and
// trace context travel upstream; credentials, cookies, the session and
// everything else stay at the gateway.
func TestForwardHeaders(t *testing.T) {
	in := http.Header{
		"Mcp-Method": {"tools/call"}, "Mcp-Name": {"echo"}, "Mcp-Param-Region": {"eu"},
		"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "Tracestate": {"a=b"}, "Baggage": {"k=v"},
		"Authorization": {"Bearer secret"}, "Cookie": {"c=1"}, "Mcp-Session-Id": {"s"}, "Mcp-Protocol-Version": {"2025-11-25"},
		"Mcp-Param": {"x"}, "Mcp-Methods": {"x"}, "Traceparents": {"x"}, "Baggage-X": {"x"}, "Host": {"h"}, "Accept": {"*/*"},
		"Content-Type": {"application/json"}, "X-Forwarded-For": {"1.2.3.4"}, "": {"empty"},
	}
	want := http.Header{
		"Mcp-Method": {"tools/call"}, "Mcp-Name": {"echo"}, "Mcp-Param-Region": {"eu"},
		"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "Tracestate": {"a=b"}, "Baggage": {"k=v"},
	}
	if got := forwardHeaders(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("forwarded %v\nwant %v", got, want)
	}
	if got := forwardHeaders(http.Header{"Authorization": {"Bearer x"}}); got != nil {
		t.Fatalf("forwarded %v, want nothing", got)
	}
}
