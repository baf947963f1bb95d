package app

import (
	"context"
	"fmt"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/aggregate"
)

// aggregateUpstream builds a virtual server: each member's upstream as
// for a route of its own, behind one aggregate.
func (a *App) aggregateUpstream(s config.Server) (upstream.Upstream, error) {
	ag := s.Aggregate
	var members []aggregate.Member
	closeAll := func() {
		for _, m := range members {
			_ = m.Upstream.Close(context.Background())
		}
	}
	for j, m := range ag.Upstreams {
		ms := s.MemberServer(j)
		up, err := a.upstream(ms)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("upstream %q: %w", m.Name, err)
		}
		if m.Era == "modern" || m.Era == "auto" {
			// The aggregate speaks the session era to its members: the
			// gateway's era bridge stands in front of this one.
			if up, err = aggregate.Bridge(aggregate.BridgeOptions{Name: ms.Name, Upstream: up, Era: era(m.Era), Keyring: a.keyring,
				Logger: a.log.With("route", s.Name, "upstream", m.Name)}); err != nil {
				closeAll()
				return nil, fmt.Errorf("upstream %q: %w", m.Name, err)
			}
		}
		members = append(members, aggregate.Member{Name: m.Name, Prefix: m.Prefix, Upstream: up, Allow: m.Tools.Allow, Deny: m.Tools.Deny})
	}
	o := aggregate.Options{Members: members, Timeout: ag.Timeout.D(), Retry: ag.Retry.D(), MaxItems: ag.MaxItems, Logger: a.log.With("route", s.Name, "upstream", "aggregate")}
	o.ServerInfo.Name = s.Name
	up, err := aggregate.New(o)
	if err != nil {
		closeAll()
		return nil, err
	}
	return up, nil
}
