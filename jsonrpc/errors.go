package jsonrpc

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// Error codes. The first five are JSON-RPC 2.0 (section 5.1); the -320xx codes
// are MCP's (2026-07-28 basic/index "Error Codes"); the -310xx codes are
// mcpfort's own, outside the range JSON-RPC reserves, so a client can never
// mistake a gateway failure for an answer from the upstream server.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603

	// CodeResourceNotFound is the 2025-11-25-and-earlier resource-not-found
	// code; 2026-07-28 replaced it by CodeInvalidParams.
	CodeResourceNotFound = -32002
	// CodeURLElicitationRequired exists in 2025-11-25 only.
	CodeURLElicitationRequired = -32042

	CodeHeaderMismatch                  = -32020
	CodeMissingRequiredClientCapability = -32021
	CodeUnsupportedProtocolVersion      = -32022

	// CodeUpstreamUnavailable: the upstream server could not be reached, or
	// failed before answering.
	CodeUpstreamUnavailable = -31001
	// CodeUpstreamTimeout: the upstream did not answer in time.
	CodeUpstreamTimeout = -31002
	// CodeOverloaded: the gateway's queue for the upstream is full; retry
	// later.
	CodeOverloaded = -31003
	// CodeRateLimited: a rate limit refused the call; data.retryAfter holds
	// the seconds to wait.
	CodeRateLimited = -31004
	// CodeForbidden: a gateway policy refused the call.
	CodeForbidden = -31005
)

// Error is a JSON-RPC error object. It is also a Go error, so handlers can
// return it and one writer turns it into the wire form.
type Error struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`

	id ID // set by Decode when the broken message still had a readable id
}

func (e *Error) Error() string {
	return "jsonrpc error " + strconv.FormatInt(e.Code, 10) + ": " + e.Message
}

// RequestID is the id of the message that failed to decode, when it could be
// read; error responses echo it (JSON-RPC 2.0 section 5).
func (e *Error) RequestID() ID { return e.id }

// NewError returns an error with the given code and message.
func NewError(code int64, msg string) *Error { return &Error{Code: code, Message: msg} }

// AppendJSON appends the error object.
func (e *Error) AppendJSON(b []byte) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, e.Code, 10)
	b = append(b, `,"message":`...)
	b = jsonx.AppendQuote(b, e.Message)
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	}
	return append(b, '}')
}

// AppendResult appends a result response.
func AppendResult(b []byte, id ID, result []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = id.AppendJSON(b)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

// AppendErrorResponse appends an error response. An absent id is written as
// null, as JSON-RPC 2.0 section 5 requires when the id could not be read.
func AppendErrorResponse(b []byte, id ID, e *Error) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = id.AppendJSON(b)
	b = append(b, `,"error":`...)
	b = e.AppendJSON(b)
	return append(b, '}')
}

// AppendRequest appends a request; params may be nil.
func AppendRequest(b []byte, id ID, method string, params []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = id.AppendJSON(b)
	b = append(b, `,"method":`...)
	b = jsonx.AppendQuote(b, method)
	if params != nil {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// AppendNotification appends a notification; params may be nil.
func AppendNotification(b []byte, method string, params []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","method":`...)
	b = jsonx.AppendQuote(b, method)
	if params != nil {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// DecodeError parses the raw "error" member of a response (JSON-RPC 2.0
// section 5.1): "code" an integer, "message" a string, "data" any value,
// each optional and null meaning absent; other members are ignored. Names
// are matched exactly, as everywhere in the gateway. Data is a copy.
func DecodeError(raw []byte) (*Error, error) {
	ms, err := jsonx.ObjectMembers(raw, 0)
	if err != nil {
		return nil, err
	}
	var e Error
	for _, m := range ms {
		if jsonx.IsNull(m.Value) {
			continue
		}
		switch m.Key {
		case "code":
			n, err := strconv.ParseInt(string(m.Value), 10, 64)
			if err != nil {
				return nil, errors.New("jsonrpc: error code is not an integer")
			}
			e.Code = n
		case "message":
			s, ok := jsonx.String(m.Value)
			if !ok {
				return nil, errors.New("jsonrpc: error message is not a string")
			}
			e.Message = s
		case "data":
			e.Data = append(json.RawMessage(nil), m.Value...)
		}
	}
	return &e, nil
}
