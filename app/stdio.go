package app

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
	"github.com/mcpfort/mcpfort/secrets"
)

// stdioUpstream builds the process pools of a local server: one with the
// configured isolation for legacy sessions, and one process per principal
// for stateless 2026-07-28 requests.
// eraCheckTimeout bounds the start-up check of a stdio server's forced
// era, which includes starting the command.
const eraCheckTimeout = 30 * time.Second

func (a *App) stdioUpstream(s config.Server) (upstream.Upstream, error) {
	st := s.Stdio
	cmd := append([]string(nil), st.Command...)
	if strings.Contains(cmd[0], "/") && !filepath.IsAbs(cmd[0]) {
		cmd[0] = a.cfg.Resolve(cmd[0])
	}
	var env []string
	type refEnv struct {
		key string
		s   *secrets.Secret
	}
	var refs []refEnv
	for k, v := range st.Env {
		if v.Secret == nil {
			env = append(env, k+"="+v.Literal)
			continue
		}
		sec, err := a.secret(context.Background(), a.field(s, "stdio.env."+k), *v.Secret)
		if err != nil {
			return nil, err
		}
		refs = append(refs, refEnv{k, sec})
	}
	sort.Strings(env)
	sort.Slice(refs, func(i, j int) bool { return refs[i].key < refs[j].key })
	// Values from references are read at each process start, so that a
	// process started after a rotation gets the new value.
	var envSource func() []string
	if len(refs) > 0 {
		envSource = func() []string {
			out := make([]string, 0, len(refs))
			for _, r := range refs {
				out = append(out, r.key+"="+r.s.Value().Reveal())
			}
			return out
		}
	}
	iso, err := stdio.ParseIsolation(st.Isolation)
	if err != nil {
		return nil, err
	}
	base := stdio.Options{
		Name: s.Name, Command: cmd, Env: env, EnvSource: envSource, Dir: st.Dir,
		MaxProcesses: st.MaxProcesses, MaxInFlight: st.MaxInFlight, MaxQueue: st.MaxQueue,
		QueueTimeout: st.QueueTimeout.D(), IdleTimeout: st.IdleTimeout.D(),
		Logger: a.log.With("route", s.Name, "upstream", "stdio"),
	}
	so := base
	so.Isolation = iso
	lo := base
	lo.Isolation = stdio.PerSession
	// Queue waits and process starts, when telemetry is on (a nil
	// *StdioObserver must not become a non-nil interface).
	if o := a.tel.Stdio(s.Name, "sessions"); o != nil {
		so.Observer = o
	}
	if o := a.tel.Stdio(s.Name, "stateless"); o != nil {
		lo.Observer = o
	}
	so.Warm = st.Warm // per_session only (checked by config)
	sessions, err := stdio.New(so)
	if err != nil {
		return nil, err
	}
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
	if s.Era == "legacy" || s.Era == "modern" {
		// A forced era is checked once, by starting the command, before
		// serving: a server that does not speak it would fail every call.
		ctx, cancel := context.WithTimeout(context.Background(), eraCheckTimeout)
		err := gateway.CheckEra(ctx, up, era(s.Era), gateway.Implementation{Name: "mcpfort", Version: "era-check"})
		cancel()
		if err != nil {
			_ = up.Close(context.Background())
			want := "a 2025 protocol version (initialize)"
			if s.Era == "modern" {
				want = "protocol version 2026-07-28 (server/discover)"
			}
			return nil, fmt.Errorf("era: %s is configured, but the stdio server does not speak %s: %w", s.Era, want, err)
		}
	}
	return up, nil
}
