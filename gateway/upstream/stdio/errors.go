package stdio

import (
	"errors"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// Sentinel errors. Failures the client should see as a JSON-RPC error are
// *jsonrpc.Error values instead (CodeOverloaded, CodeUpstreamUnavailable,
// CodeUpstreamTimeout); match both kinds with errors.Is and errors.As.
var (
	// ErrGone: the process of a PerSession conn has exited or was stopped
	// (crash, idle timeout, Close). The session cannot continue; the gateway
	// answers 404 so the client initializes a new one (MCP 2025-11-25
	// basic/transports "Session Management").
	ErrGone = errors.New("stdio: session process gone")

	// ErrClosed: the pool or the conn is closed.
	ErrClosed = errors.New("stdio: closed")

	// ErrKeyInUse: Acquire on a PerSession pool was given the key of a
	// session that is still alive.
	ErrKeyInUse = errors.New("stdio: session key already in use")

	// ErrCancelled: the call was cancelled, by its context or by the
	// client's notifications/cancelled, before the response arrived.
	ErrCancelled = errors.New("stdio: call cancelled")

	// ErrUnknownRequest: Conn.Send was given a response whose id matches no
	// server-to-client request delivered to that conn.
	ErrUnknownRequest = errors.New("stdio: response to a request this conn was not sent")

	// ErrNotRequest: Conn.Call was given a message that is not a request,
	// or Conn.Send one that is.
	ErrNotRequest = errors.New("stdio: wrong message kind")
)

func overloaded(msg string) *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeOverloaded, "upstream overloaded: "+msg)
}

func unavailable(msg string) *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeUpstreamUnavailable, "upstream unavailable: "+msg)
}

func timeout(msg string) *jsonrpc.Error {
	return jsonrpc.NewError(jsonrpc.CodeUpstreamTimeout, "upstream timeout: "+msg)
}
