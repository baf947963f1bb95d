package observe

import (
	"bytes"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// metaCarrier reads W3C trace context from a raw params._meta object. An
// absent or non-string member reads as "" (never "<nil>").
type metaCarrier []byte

func (m metaCarrier) Get(key string) string {
	v, ok := jsonx.Get(m, key)
	if !ok {
		return ""
	}
	s, _ := jsonx.String(v)
	return s
}

// Set is not used: injection rewrites the message (injectMeta).
func (m metaCarrier) Set(string, string) {}

func (m metaCarrier) Keys() []string { return []string{MetaTraceparent, MetaTracestate, MetaBaggage} }

var traceKeys = [...]string{MetaTraceparent, MetaTracestate, MetaBaggage}

// injectMeta returns raw (one JSON-RPC request or notification) with
// params._meta's traceparent, tracestate and baggage set to what carrier
// holds, and removed where it holds nothing: the upstream sees the
// gateway's context, never the caller's unchanged (W3C Trace Context
// section 3.2, intermediaries update the parent id). It returns raw itself
// when there is nothing to set or remove.
func injectMeta(raw []byte, carrier map[string]string) ([]byte, error) {
	m, err := jsonrpc.Decode(raw, jsonrpc.Limits{})
	if err != nil {
		return nil, err
	}
	params := m.Params
	meta, hasMeta := jsonx.Get(params, "_meta")
	if hasMeta && !jsonx.IsObject(meta) {
		hasMeta = false
	}
	if len(carrier) == 0 && (!hasMeta || !mentionsTrace(meta)) {
		return raw, nil
	}
	if params == nil || !jsonx.IsObject(params) {
		if params != nil {
			return raw, nil // array params have no _meta
		}
		params = []byte(`{}`)
	}
	if !hasMeta {
		meta = []byte(`{}`)
	}
	for _, k := range traceKeys {
		if v := carrier[k]; v != "" {
			meta, err = jsonx.Set(meta, k, jsonx.Quote(v))
		} else {
			meta, err = jsonx.Delete(meta, k)
		}
		if err != nil {
			return nil, err
		}
	}
	if params, err = jsonx.Set(params, "_meta", meta); err != nil {
		return nil, err
	}
	return jsonx.Set(raw, "params", params)
}

var quotedTraceKeys = [...][]byte{[]byte(`"traceparent"`), []byte(`"tracestate"`), []byte(`"baggage"`)}

func mentionsTrace(meta []byte) bool {
	for _, k := range quotedTraceKeys {
		if bytes.Contains(meta, k) {
			return true
		}
	}
	return false
}
