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
		up, err := a.upstream(s.MemberServer(j))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("upstream %q: %w", m.Name, err)
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
