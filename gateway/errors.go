package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/transport"
)

// Error is a failure the gateway answers: the HTTP status, the JSON-RPC
// error the client reads, headers to add (a rate limit's Retry-After), and
// a cause that is logged once, with the route and the request, and never
// sent. Policies return it to refuse with a status other than the one the
// JSON-RPC code implies; the gateway's own handlers return it for every
// refusal, and one function writes it (see Gateway.ServeHTTP).
type Error struct {
	// Status is the HTTP status. If zero, 200: the JSON-RPC error is an
	// ordinary answer (the client's pending call fails, its transport
	// does not).
	Status int
	// Header holds headers to add to the answer.
	Header http.Header
	// RPC is the JSON-RPC error on the wire. It must not be nil.
	RPC *jsonrpc.Error
	// Cause is why, for the operator: logged, never sent.
	Cause error

	id jsonrpc.ID // the request answered (zero: none)
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.RPC.Error() + ": " + e.Cause.Error()
	}
	return e.RPC.Error()
}

// Unwrap exposes the JSON-RPC error and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.RPC}
	}
	return []error{e.RPC, e.Cause}
}

// refuse is a refusal the gateway decides itself, before any policy.
func refuse(status int, id jsonrpc.ID, code int64, msg string) *Error {
	return &Error{Status: status, RPC: jsonrpc.NewError(code, msg), id: id}
}

// answer returns err as the *Error that answers request id (zero id: no
// request, or several). A policy's *Error keeps its status and headers; a
// *jsonrpc.Error travels with the status its code has in the 2026-07-28
// era; anything else is an upstream failure, whose text becomes the cause.
// The result is a new value: err itself may be shared.
func answer(id jsonrpc.ID, err error) *Error {
	var ge *Error
	if errors.As(err, &ge) {
		e := *ge
		e.id = id
		if e.RPC == nil {
			e.RPC = jsonrpc.NewError(jsonrpc.CodeInternalError, "Internal error")
		}
		return &e
	}
	var re *jsonrpc.Error
	if errors.As(err, &re) {
		return &Error{Status: statusForRPC(re.Code), RPC: re, id: id}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{RPC: jsonrpc.NewError(jsonrpc.CodeUpstreamTimeout, "upstream server timed out"), Cause: err, id: id}
	}
	return &Error{RPC: jsonrpc.NewError(jsonrpc.CodeUpstreamUnavailable, "upstream server unavailable"), Cause: err, id: id}
}

// statusForRPC gives the HTTP status a JSON-RPC error travels with in the
// 2026-07-28 era: 400 for header mismatch, missing capability and
// unsupported version, 404 for an unknown method (streamable-http "Request
// Metadata"). Other errors are ordinary 200 answers.
func statusForRPC(code int64) int {
	switch code {
	case jsonrpc.CodeHeaderMismatch, jsonrpc.CodeMissingRequiredClientCapability, jsonrpc.CodeUnsupportedProtocolVersion:
		return http.StatusBadRequest
	case jsonrpc.CodeMethodNotFound:
		return http.StatusNotFound
	case jsonrpc.CodeRateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusOK
}

// writeError answers a request that failed before any byte of its answer
// was written. It is the only place the gateway writes an error answer;
// the handlers return their errors to it.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) || e.RPC == nil {
		e = answer(jsonrpc.ID{}, err)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusOK
	}
	g.logCause(e, "http_method", r.Method, "status", status)
	for k, vs := range e.Header {
		w.Header()[k] = vs
	}
	transport.WriteError(w, status, e.id, e.RPC)
}

// inBand returns the JSON-RPC error response that answers request id with
// err, for answers that are already under way (a batch's array, an SSE
// stream), and logs the cause as writeError does.
func (g *Gateway) inBand(id jsonrpc.ID, err error) []byte {
	e := answer(id, err)
	g.logCause(e)
	return jsonrpc.AppendErrorResponse(nil, id, e.RPC)
}

// logCause logs an error's cause, once, with the route and the request's
// id.
func (g *Gateway) logCause(e *Error, attrs ...any) {
	if e.Cause == nil {
		return
	}
	attrs = append(attrs, "rpc_id", e.id.Raw(), "code", e.RPC.Code, "err", e.Cause)
	g.log.Warn("mcp request failed", attrs...)
}
