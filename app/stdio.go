package app

import (
	"context"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
)

// stdioUpstream builds the process pools of a local server: one with the
// configured isolation for legacy sessions, and one process per principal
// for stateless 2026-07-28 requests.
func (a *App) stdioUpstream(s config.Server) (upstream.Upstream, error) {
	st := s.Stdio
	cmd := append([]string(nil), st.Command...)
	if strings.Contains(cmd[0], "/") && !filepath.IsAbs(cmd[0]) {
		cmd[0] = a.cfg.Resolve(cmd[0])
	}
	var env []string
	for k, v := range st.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	iso, err := stdio.ParseIsolation(st.Isolation)
	if err != nil {
		return nil, err
	}
	base := stdio.Options{
		Name: s.Name, Command: cmd, Env: env, Dir: st.Dir,
		MaxProcesses: st.MaxProcesses, MaxInFlight: st.MaxInFlight, MaxQueue: st.MaxQueue,
		QueueTimeout: st.QueueTimeout.D(), IdleTimeout: st.IdleTimeout.D(),
		Logger: a.log.With("route", s.Name, "upstream", "stdio"),
	}
	so := base
	so.Isolation = iso
	sessions, err := stdio.New(so)
	if err != nil {
		return nil, err
	}
	lo := base
	lo.Isolation = stdio.PerSession
	stateless, err := stdio.New(lo)
	if err != nil {
		_ = sessions.Close(context.Background())
		return nil, err
	}
	a.pools = append(a.pools, namedPool{s.Name, "sessions", sessions}, namedPool{s.Name, "stateless", stateless})
	up, err := local.New(local.Options{Sessions: sessions, Stateless: stateless, Logger: base.Logger})
	if err != nil {
		_ = sessions.Close(context.Background())
		_ = stateless.Close(context.Background())
		return nil, err
	}
	return up, nil
}
