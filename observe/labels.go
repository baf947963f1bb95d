package observe

import (
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// labels are the attributes of one metric point, as a comparable key: the
// attribute sets built from them are cached, so recording a point costs
// no sorting and no allocation once a combination has been seen.
type labels struct {
	kind                              uint8
	route, method, name, version      string
	transport, errType, code, outcome string
}

const (
	kindOperation uint8 = iota
	kindRequests
	kindUpstreamError
	kindHTTP // route is the http.route, method the HTTP method, code the status
)

// maxCachedSets bounds the cache; past it sets are built per point (the
// labels themselves stay bounded by the configuration, the protocol and
// the upstreams' lists).
const maxCachedSets = 4096

type setCache struct {
	mu   sync.RWMutex
	sets map[labels]*measureOpts
}

// measureOpts are one attribute set as the option slices Record and Add
// take, so that passing them allocates nothing.
type measureOpts struct {
	rec []metric.RecordOption
	add []metric.AddOption
}

func newMeasureOpts(kv ...attribute.KeyValue) *measureOpts {
	o := metric.WithAttributeSet(attribute.NewSet(kv...))
	return &measureOpts{rec: []metric.RecordOption{o}, add: []metric.AddOption{o}}
}

// attrSet returns the options of l's attributes.
func (t *Telemetry) attrSet(l labels) *measureOpts {
	c := &t.sets
	c.mu.RLock()
	o, ok := c.sets[l]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = newMeasureOpts(l.attributes()...)
	c.mu.Lock()
	if c.sets == nil {
		c.sets = map[labels]*measureOpts{}
	}
	if len(c.sets) < maxCachedSets {
		c.sets[l] = o
	}
	c.mu.Unlock()
	return o
}

func (l labels) attributes() []attribute.KeyValue {
	a := make([]attribute.KeyValue, 0, 8)
	if l.kind == kindHTTP {
		st, _ := strconv.Atoi(l.code)
		return append(a, attribute.String(AttrHTTPRoute, l.route), attribute.String(AttrHTTPRequestMethod, l.method),
			attribute.Int(AttrHTTPResponseStatusCode, st))
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
