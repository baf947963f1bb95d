package app

import (
	"errors"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/upstream"
)

func (a *App) stdioUpstream(s config.Server) (upstream.Upstream, error) {
	return nil, errors.New("stdio upstreams are not wired yet")
}
