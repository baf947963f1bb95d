package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// dispatch is the innermost handler of the MCP plane: it sends the call to
// the upstream in the upstream's era, bridging when the eras differ.
func (g *Gateway) dispatch(ctx context.Context, c *Call) (upstream.Reply, error) {
	if c.Era == mcp.EraLegacy {
		if c.Session.Mode == session.ModeToModern {
			return g.toModern(ctx, c)
		}
		version := c.Version
		if c.Msg.Method == mcp.MethodInitialize {
			version = "" // the header starts after initialization
		}
		return g.up.Post(ctx, &upstream.Request{
			Body: c.Body(), Messages: []*jsonrpc.Message{c.Msg},
			Session: c.Session.UpstreamSession, Key: sessionKey(c.Session), Principal: principalKey(c.Principal),
			ProtocolVersion: version, Header: c.fwd,
		})
	}
	_, modern := g.era.get()
	if modern == no {
		return g.toLegacy(ctx, c)
	}
	reply, err := g.up.Post(ctx, &upstream.Request{
		Body: c.Body(), Messages: []*jsonrpc.Message{c.Msg}, Principal: principalKey(c.Principal),
		ProtocolVersion: c.Version, Header: c.fwd,
	})
	if modern == unknown {
		if err == nil && reply.Info().Status < 300 {
			g.era.set(unknown, yes)
			return reply, nil
		}
		var first []*upstream.Event
		if err == nil {
			reply, first, err = g.bufferToResponse(ctx, reply)
		}
		switch {
		case isLegacyRefusal(reply, first, err):
			if reply != nil {
				reply.Close()
			}
			g.era.set(unknown, no)
			return g.toLegacy(ctx, c)
		case err == nil:
			g.era.set(unknown, yes)
		}
	}
	return reply, err
}

// httpStatuser is implemented by upstream errors that carry the upstream's
// HTTP status.
type httpStatuser interface{ HTTPStatus() int }

// isLegacyRefusal reports whether the upstream answered a 2026-07-28
// request the way a legacy-only server does: a 4xx without a recognised
// 2026-07-28 error (streamable-http "Backward Compatibility").
func isLegacyRefusal(reply upstream.Reply, first []*upstream.Event, err error) bool {
	if err != nil {
		var hs httpStatuser
		if errors.As(err, &hs) {
			s := hs.HTTPStatus()
			return s == http.StatusBadRequest || s == http.StatusNotFound || s == http.StatusMethodNotAllowed
		}
		return false
	}
	s := reply.Info().Status
	if s != http.StatusBadRequest && s != http.StatusNotFound && s != http.StatusMethodNotAllowed {
		return false
	}
	for _, ev := range first {
		if code, ok := errorCode(ev.Data); ok {
			switch code {
			case jsonrpc.CodeHeaderMismatch, jsonrpc.CodeMissingRequiredClientCapability, jsonrpc.CodeUnsupportedProtocolVersion:
				return false
			case jsonrpc.CodeMethodNotFound:
				return s != http.StatusNotFound
			case jsonrpc.CodeInvalidParams:
				return s != http.StatusBadRequest
			}
		}
	}
	return true
}

// errorCode returns the error code of a JSON-RPC error response.
func errorCode(data []byte) (int64, bool) {
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil || m.Error == nil {
		return 0, false
	}
	e, err := jsonrpc.DecodeError(m.Error)
	if err != nil {
		return 0, false
	}
	return e.Code, true
}
