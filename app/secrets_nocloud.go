//go:build mcpfort_nocloud

package app

import (
	"context"
	"errors"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/secrets"
)

// CloudSecrets reports whether this build reads AWS, Azure and Google
// secret references.
const CloudSecrets = false

// cloudSecretBackends refuses a configuration naming a cloud backend:
// this build was made without them (tag mcpfort_nocloud).
func cloudSecretBackends(_ context.Context, sc config.Secrets, _ map[string]secrets.Backend) error {
	if sc.AWSSecrets != nil || sc.AWSSSM != nil || sc.AzureKeyVault != nil || sc.GCPSecrets != nil {
		return errors.New("secrets: this mcpfort was built without the AWS, Azure and Google backends (build tag mcpfort_nocloud); use the full build")
	}
	return nil
}
