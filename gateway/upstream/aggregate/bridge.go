package aggregate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/transport"
)

// BridgeOptions configures Bridge.
type BridgeOptions struct {
	// Name names the member (the inner route, in logs and sealed ids).
	Name string
	// Upstream is the member's server.
	Upstream upstream.Upstream
	// Era is what it speaks: gateway.EraModern, or gateway.EraAuto to
	// probe.
	Era gateway.UpstreamEra
	// Keyring seals the inner sessions, whose ids travel in the
	// aggregate's session string: replicas share it as they share the
	// route's.
	Keyring *session.Keyring
	// Logger receives the inner gateway's logs.
	Logger *slog.Logger
}

// Bridge returns a member for a server that speaks 2026-07-28 (or whose
// era is to be probed): the gateway's own era bridge, a gateway.Gateway
// without policies in front of up, reached in process, so that the
// aggregate speaks the legacy era to it as to every member (2026-07-28
// basic/versioning "Compatibility Matrix": legacy client, modern server).
func Bridge(o BridgeOptions) (upstream.Upstream, error) {
	if o.Keyring == nil || o.Upstream == nil {
		return nil, errors.New("aggregate: Bridge needs Upstream and Keyring")
	}
	g, err := gateway.New(gateway.Options{Route: "member:" + o.Name, Upstream: o.Upstream, UpstreamEra: o.Era, Keyring: o.Keyring, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	r, err := remote.New(remote.Options{URL: "http://127.0.0.1/mcp", Client: &http.Client{Transport: inProcess{g}}, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return &bridged{Upstream: r, inner: o.Upstream, gw: g}, nil
}

// bridged closes the member's server with the bridge.
type bridged struct {
	upstream.Upstream
	inner upstream.Upstream
	gw    *gateway.Gateway
}

func (b *bridged) Close(ctx context.Context) error {
	b.gw.Drain()
	return errors.Join(b.Upstream.Close(ctx), b.inner.Close(ctx))
}

// inProcess is a RoundTripper that serves requests with a handler in
// this process: it answers as soon as the handler has a status, and the
// body streams through a pipe.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Host == "" {
		req.Host = req.URL.Host
	}
	return transport.ServeInProcess(req.Context(), t.h, req, nil)
}
