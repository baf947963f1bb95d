package mcp

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// Params holds what the gateway reads from a request's params: the routing
// name (tool or prompt name, resource URI), and the _meta fields. Raw values
// alias the message bytes.
type Params struct {
	Name    string // params.name (tools/call, prompts/get)
	URI     string // params.uri (resources/read, resources/subscribe)
	HasName bool
	HasURI  bool

	Meta []byte // raw params._meta object, nil when absent

	// Arguments is the raw params.arguments (tools/call, prompts/get), nil
	// when absent: read in the same walk, so that no policy scans params
	// again to find it.
	Arguments []byte

	ProtocolVersion    string // _meta io.modelcontextprotocol/protocolVersion
	HasProtocolVersion bool
	ClientCapabilities []byte // raw _meta io.modelcontextprotocol/clientCapabilities
	ClientInfo         []byte // raw _meta io.modelcontextprotocol/clientInfo
	LogLevel           string // _meta io.modelcontextprotocol/logLevel
	ProgressToken      []byte // raw _meta progressToken
}

// ErrInvalidParams reports params whose reserved members have the wrong type.
// ParseParams returns it as a *ParamsError, which says which member.
var ErrInvalidParams = errors.New("invalid params")

// ParamsError is the error ParseParams returns: Reason names the member
// and what is wrong with it, in words fit for the client.
type ParamsError struct{ Reason string }

func (e *ParamsError) Error() string { return "invalid params: " + e.Reason }

// Is makes a *ParamsError match ErrInvalidParams.
func (e *ParamsError) Is(target error) bool { return target == ErrInvalidParams }

// ParseParams reads the members the gateway needs from raw params, which
// jsonrpc.Decode has already validated. nil or non-object params give an
// empty Params. A message decoded by jsonrpc.Decode is better read with
// ParamsOf, which scans nothing again.
func ParseParams(raw []byte) (Params, error) {
	if raw == nil || !jsonx.IsObject(raw) {
		return Params{}, nil
	}
	levels, err := jsonx.ObjectMembersAlong(raw, 1<<30, "_meta")
	if err != nil {
		return Params{}, &ParamsError{Reason: "params are not a JSON object"}
	}
	return fromMembers(levels[0], levels[1])
}

// ParamsOf reads the members the gateway needs from m's params, from the
// members jsonrpc.Decode found in the scan that validated the message.
func ParamsOf(m *jsonrpc.Message) (Params, error) {
	params, meta, ok := m.ParamsMembers()
	if !ok {
		return ParseParams(m.Params)
	}
	return fromMembers(params, meta)
}

// fromMembers reads Params from the members of params and of params._meta
// (nil when _meta is absent or not an object).
func fromMembers(params, meta []jsonx.Member) (Params, error) {
	var p Params
	for _, m := range params {
		k, v := m.Key, m.Value
		switch k {
		case "name":
			if p.Name, p.HasName = jsonx.String(v); !p.HasName {
				return p, &ParamsError{Reason: `"name" must be a string`}
			}
		case "uri":
			if p.URI, p.HasURI = jsonx.String(v); !p.HasURI {
				return p, &ParamsError{Reason: `"uri" must be a string`}
			}
		case "arguments":
			p.Arguments = v
		case "_meta":
			if !jsonx.IsObject(v) {
				return p, &ParamsError{Reason: `"_meta" must be an object`}
			}
			p.Meta = v
		}
	}
	for _, m := range meta {
		k, v := m.Key, m.Value
		switch k {
		case MetaProtocolVersion:
			if p.ProtocolVersion, p.HasProtocolVersion = jsonx.String(v); !p.HasProtocolVersion {
				return p, &ParamsError{Reason: `_meta "` + MetaProtocolVersion + `" must be a string`}
			}
		case MetaClientCapabilities:
			if !jsonx.IsObject(v) {
				return p, &ParamsError{Reason: `_meta "` + MetaClientCapabilities + `" must be an object`}
			}
			p.ClientCapabilities = v
		case MetaClientInfo:
			if !jsonx.IsObject(v) {
				return p, &ParamsError{Reason: `_meta "` + MetaClientInfo + `" must be an object`}
			}
			p.ClientInfo = v
		case MetaLogLevel:
			var ok bool
			if p.LogLevel, ok = jsonx.String(v); !ok {
				return p, &ParamsError{Reason: `_meta "` + MetaLogLevel + `" must be a string`}
			}
		case MetaProgressToken:
			p.ProgressToken = v
		}
	}
	return p, nil
}

const (
	sentinelPrefix = "=?base64?"
	sentinelSuffix = "?="
)

// ErrHeaderValue reports a header value with characters RFC 9110 field
// values cannot carry, or a malformed Base64 sentinel.
var ErrHeaderValue = errors.New("invalid header value")

// DecodeHeaderValue decodes an Mcp-Name or Mcp-Param-* header value: plain
// visible ASCII (plus inner spaces and tabs) is returned as is, and the
// sentinel form =?base64?...?= is Base64-decoded (2026-07-28 streamable-http
// "Value Encoding"; the markers are case-sensitive).
func DecodeHeaderValue(v string) (string, error) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\t' && (c < 0x20 || c > 0x7e) {
			return "", ErrHeaderValue
		}
	}
	if strings.HasPrefix(v, sentinelPrefix) && strings.HasSuffix(v, sentinelSuffix) && len(v) >= len(sentinelPrefix)+len(sentinelSuffix) {
		enc := v[len(sentinelPrefix) : len(v)-len(sentinelSuffix)]
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return "", ErrHeaderValue
		}
		return string(b), nil
	}
	return v, nil
}

// EncodeHeaderValue encodes s for an Mcp-Name or Mcp-Param-* header: as is
// when it is plain visible ASCII without leading or trailing whitespace and
// does not look like a sentinel, otherwise in the Base64 sentinel form.
func EncodeHeaderValue(s string) string {
	plain := s != "" && s[0] != ' ' && s[0] != '\t' && s[len(s)-1] != ' ' && s[len(s)-1] != '\t'
	for i := 0; plain && i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && (c < 0x21 || c > 0x7e) {
			plain = false
		}
	}
	if plain && !(strings.HasPrefix(s, sentinelPrefix) && strings.HasSuffix(s, sentinelSuffix)) {
		return s
	}
	return sentinelPrefix + base64.StdEncoding.EncodeToString([]byte(s)) + sentinelSuffix
}
