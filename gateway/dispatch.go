package gateway

import (
	"context"
	"errors"

	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// dispatch is the innermost handler of the MCP plane: it sends the call to
// the upstream in the upstream's era, bridging when the eras differ.
func (g *Gateway) dispatch(ctx context.Context, c *Call) (upstream.Reply, error) {
	if c.Stream {
		return g.getStream(ctx, c)
	}
	if c.Era == mcp.EraLegacy {
		if c.Session.Mode == session.ModeToModern {
			return g.toModern(ctx, c)
		}
		version := c.Version
		if c.Msg.Method == mcp.MethodInitialize {
			version = "" // the header starts after initialization
		}
		req := c.forward()
		req.Session, req.Key, req.Principal = c.Session.UpstreamSession, sessionKey(c.Session), principalKey(c.Principal)
		req.ProtocolVersion, req.Header = version, c.fwd
		return g.up.Post(ctx, req)
	}
	_, modern := g.era.get()
	if modern == unknown {
		var err error
		if modern, err = g.probeModern(ctx); err != nil {
			return nil, err
		}
	}
	if modern == no {
		return g.toLegacy(ctx, c)
	}
	if c.rewrote && c.Msg.Method == mcp.MethodToolsCall {
		// A policy rewrote the arguments (PII masking): the headers that
		// mirror them must say the same, or the upstream sees a mismatch
		// and the original value travels in a header.
		if err := g.remirror(ctx, c); err != nil {
			return nil, err
		}
	}
	req := c.forward()
	req.Principal, req.ProtocolVersion, req.Header = principalKey(c.Principal), c.Version, c.fwd
	return g.up.Post(ctx, req)
}

// probeModern asks the upstream, once, whether it serves 2026-07-28: a
// server/discover whose supportedVersions include it says yes; a legacy
// refusal or a list without it says no (2026-07-28 basic/versioning
// "Backward Compatibility").
func (g *Gateway) probeModern(ctx context.Context) (tri, error) {
	d, err := g.discover(ctx)
	switch {
	case err == nil && d.modern:
		g.era.set(unknown, yes)
		return yes, nil
	case err == nil:
		g.era.set(unknown, no)
		return no, nil
	}
	var re *jsonrpc.Error
	var hs httpStatuser
	if errors.As(err, &re) || errors.As(err, &hs) && hs.HTTPStatus() < 500 {
		g.era.set(unknown, no)
		return no, nil
	}
	return unknown, err
}

// httpStatuser is implemented by upstream errors that carry the upstream's
// HTTP status.
type httpStatuser interface{ HTTPStatus() int }
